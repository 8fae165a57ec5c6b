import { useMemo, useState } from "react";
import type { components } from "../../../api/schema";
import { lineDiff, withContext } from "./textDiff";

type Snapshot = components["schemas"]["SnapshotDiff"];

/** The runs' code snapshots: every file with its state per run, and line diffs of the changed ones against the first run. */
export function SnapshotDiff({ diff, runIds, runLabels }: { diff: Snapshot; runIds: number[]; runLabels: string[] }) {
  const [showAll, setShowAll] = useState(false);
  const changed = diff.files.filter((f) => f.changed);
  const files = showAll ? diff.files : changed;
  if (diff.error) return <div className="notice notice-danger">{diff.error}</div>;
  if (diff.files.length === 0) return <p className="muted">These runs have no code snapshots.</p>;
  const base = String(runIds[0]);
  return (
    <div className="stack">
      <p className="muted">
        {diff.files.length} files, {changed.length} differ.{" "}
        <button type="button" className="btn btn-small btn-ghost" onClick={() => setShowAll(!showAll)}>
          {showAll ? "Show changed files only" : "Show every file"}
        </button>
      </p>
      <div className="table-wrap">
        <table className="table table-compact compare-table">
          <thead>
            <tr>
              <th scope="col">File</th>
              {runLabels.map((label) => (
                <th key={label} scope="col">
                  {label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {files.map((f) => (
              <tr key={f.path} className={f.changed ? "differs" : undefined}>
                <th scope="row" className="mono">
                  {f.path}
                </th>
                {runIds.map((id) => {
                  const sha = f.sha256[String(id)];
                  const size = f.size[String(id)];
                  const state = sha == null ? "absent" : sha === f.sha256[base] ? "same as first" : "changed";
                  return (
                    <td key={id} className="mono small">
                      {sha == null ? <span className="muted">absent</span> : `${size} B · ${id === runIds[0] ? sha.slice(0, 8) : state}`}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {Object.entries(diff.texts).map(([path, byRun]) => (
        <FileDiffs key={path} path={path} byRun={byRun} runIds={runIds} runLabels={runLabels} />
      ))}
    </div>
  );
}

function FileDiffs({
  path,
  byRun,
  runIds,
  runLabels,
}: {
  path: string;
  byRun: Record<string, string | null>;
  runIds: number[];
  runLabels: string[];
}) {
  const base = byRun[String(runIds[0])] ?? "";
  const diffs = useMemo(
    () =>
      runIds.slice(1).map((id) => {
        const other = byRun[String(id)];
        return other == null && base === "" ? null : withContext(lineDiff(base, other ?? ""));
      }),
    [base, byRun, runIds],
  );
  return (
    <details className="card file-diff" open={runIds.length === 2}>
      <summary className="mono">{path}</summary>
      {diffs.map((lines, k) => (
        <div key={runIds[k + 1]}>
          <p className="muted small">
            {runLabels[0]} → {runLabels[k + 1]}
          </p>
          {lines === null ? (
            <p className="muted small">Not a text file (or over 256 KiB) in these runs.</p>
          ) : (
            <pre className="diff">
              {lines.map((line, i) =>
                line === null ? (
                  <span key={i} className="diff-gap">
                    …{"\n"}
                  </span>
                ) : (
                  <span key={i} className={`diff-${line.op}`}>
                    {line.op === "add" ? "+ " : line.op === "del" ? "- " : "  "}
                    {line.text}
                    {"\n"}
                  </span>
                ),
              )}
            </pre>
          )}
        </div>
      ))}
    </details>
  );
}
