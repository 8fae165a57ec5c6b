import { useEffect, useState } from "react";
import { useEnvironmentVersions } from "../../api/queries";
import type { Environment, EnvironmentVersion } from "../../api/types";
import { ErrorNotice, Spinner } from "../../components/Feedback";
import { formatDateTime } from "../../lib/format";
import { BuildCard } from "./BuildCard";
import { SpecDiff, SpecView } from "./SpecView";

export function EnvironmentDetail({
  environment,
  canEdit,
  readOnlyReason,
  onEdit,
  initialVersion,
}: {
  environment: Environment;
  canEdit: boolean;
  readOnlyReason: string | null;
  onEdit: () => void;
  initialVersion: number | null;
}) {
  const versions = useEnvironmentVersions(environment.id);
  const [selected, setSelected] = useState<number | null>(initialVersion);
  const [compareTo, setCompareTo] = useState<number | null>(null);
  const list = versions.data ?? [];
  const current = list.find((v) => v.version === selected) ?? list[0];
  const other = list.find((v) => v.version === compareTo);

  useEffect(() => setCompareTo(null), [environment.id]);

  return (
    <div className="detail">
      <header className="detail-head">
        <div>
          <h2>
            {environment.name} {environment.curated && <span className="chip chip-curated">★ curated</span>}
          </h2>
          <p className="muted">
            {environment.description || "No description."} · {environment.curated ? "every team" : `team ${environment.team}`}
            {environment.created_by && ` · created by ${environment.created_by}`}
          </p>
        </div>
        <div className="header-actions">
          <button type="button" className="btn btn-primary" onClick={onEdit} disabled={!canEdit} aria-describedby="env-readonly">
            Edit (new version)
          </button>
        </div>
      </header>
      {readOnlyReason && (
        <p className="notice notice-info" id="env-readonly">
          {readOnlyReason}
        </p>
      )}
      {versions.isPending ? (
        <Spinner label="Loading versions…" />
      ) : versions.isError ? (
        <ErrorNotice error={versions.error} />
      ) : (
        <>
          <VersionTable
            versions={list}
            selected={current?.version ?? null}
            compareTo={compareTo}
            onSelect={setSelected}
            onCompare={setCompareTo}
          />
          {current && other && other.version !== current.version ? (
            <section className="card">
              <h3 className="card-title">
                Changes from v{Math.min(current.version, other.version)} to v{Math.max(current.version, other.version)}
              </h3>
              <SpecDiff
                before={(current.version < other.version ? current : other).spec}
                after={(current.version < other.version ? other : current).spec}
              />
            </section>
          ) : null}
          {current && (
            <div className="overview-grid">
              <section className="card">
                <h3 className="card-title">Spec of v{current.version}</h3>
                <SpecView spec={current.spec} conda={current.conda} />
              </section>
              <BuildCard version={current} />
            </div>
          )}
        </>
      )}
    </div>
  );
}

function VersionTable({
  versions,
  selected,
  compareTo,
  onSelect,
  onCompare,
}: {
  versions: EnvironmentVersion[];
  selected: number | null;
  compareTo: number | null;
  onSelect: (v: number) => void;
  onCompare: (v: number | null) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="table table-compact">
        <caption className="sr-only">Versions</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">What changed</th>
            <th scope="col" className="hide-sm">By</th>
            <th scope="col">Created</th>
            <th scope="col" className="hide-sm">Content hash</th>
            <th scope="col">Compare</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.id} className={v.version === selected ? "row-selected" : ""}>
              <td>
                <button type="button" className="link-button" onClick={() => onSelect(v.version)} aria-pressed={v.version === selected}>
                  v{v.version}
                </button>
              </td>
              <td>{v.description || <span className="muted">—</span>}</td>
              <td className="hide-sm">{v.created_by ?? "system"}</td>
              <td>{formatDateTime(v.created_at)}</td>
              <td className="hide-sm mono muted" title={v.content_hash}>
                {v.content_hash.slice(0, 12)}
              </td>
              <td>
                {v.version !== selected && versions.length > 1 && (
                  <label className="check">
                    <input
                      type="checkbox"
                      checked={compareTo === v.version}
                      onChange={(e) => onCompare(e.target.checked ? v.version : null)}
                    />
                    <span className="sr-only">Compare v{v.version} with v{selected}</span>
                    <span aria-hidden="true">diff</span>
                  </label>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
