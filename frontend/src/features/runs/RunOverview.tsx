import { Link } from "react-router-dom";
import { useProcesses, useRunInputs } from "../../api/queries";
import type { RunArgument, RunDetail } from "../../api/types";
import { formatBytes, formatDuration, formatFullDateTime } from "../../lib/format";
import { describeDistributed } from "../../lib/runs";
import { ChildRuns } from "./RunFamily";

export function ArgumentChips({ args }: { args: RunArgument[] }) {
  if (!args.length) return <span className="muted">none</span>;
  return (
    <span className="args">
      {args.map((arg, index) =>
        typeof arg === "object" && arg !== null ? (
          <span key={index} className="chip chip-dataset" title="Dataset input: replaced by its path at run time">
            {"output" in arg
              ? `output ${arg.output} → ${arg.datastore ?? "default datastore"}/${arg.path ?? ""} · upload`
              : "dataset" in arg
                ? `${arg.dataset}:${arg.version ?? "latest"}${arg.files ? ` (${arg.files.length} files)` : ""} · ${arg.mode ?? "mount"}`
                : "urls" in arg
                  ? `${arg.urls.length} web file(s) · ${arg.mode ?? "mount"}`
                  : "model" in arg
                    ? `model ${arg.model}:${arg.version ?? "latest"} · ${arg.mode ?? "mount"}`
                    : `${arg.datastore}/${arg.path} · ${arg.mode ?? "mount"}`}
          </span>
        ) : (
          <code key={index} className="arg">
            {String(arg)}
          </code>
        ),
      )}
    </span>
  );
}

export function RunOverview({ run }: { run: RunDetail }) {
  const inputs = useRunInputs(run.id);
  const processes = useProcesses(run.id);
  const env = run.environment_version;
  return (
    <div className="overview-grid">
      <section className="card">
        <h2 className="card-title">Inputs</h2>
        <dl className="props">
          <dt>Script</dt>
          <dd className="mono">{run.script || run.command.join(" ") || "—"}</dd>
          <dt>Arguments</dt>
          <dd>
            <ArgumentChips args={run.arguments} />
          </dd>
          <dt>Environment</dt>
          <dd>
            {env ? (
              <>
                <Link to={`/environments?name=${encodeURIComponent(env.name)}&version=${env.version}`}>
                  {env.name}:{env.version}
                </Link>{" "}
                {env.curated && <span className="chip chip-curated">curated</span>}
              </>
            ) : (
              <span className="muted">none: an interactive run, logged to by its client</span>
            )}
          </dd>
          <dt>Compute</dt>
          <dd>{run.compute_target || <span className="muted">none</span>}</dd>
          {run.parent != null && (
            <>
              <dt>Parent run</dt>
              <dd>
                <Link to={`/runs/${run.parent}`} data-testid="parent-run">
                  #{run.parent}
                </Link>
              </dd>
            </>
          )}
          <dt>Distribution</dt>
          <dd>{describeDistributed(run.distributed)}</dd>
          <dt>Experiment</dt>
          <dd>
            <Link to={`/runs?experiment=${encodeURIComponent(run.experiment)}`}>{run.experiment}</Link>
          </dd>
          <dt>Tags</dt>
          <dd>
            {Object.keys(run.tags).length ? (
              Object.entries(run.tags).map(([k, v]) => (
                <span key={k} className="chip">
                  {v ? `${k}=${v}` : k}
                </span>
              ))
            ) : (
              <span className="muted">none</span>
            )}
          </dd>
          <dt>Properties</dt>
          <dd data-testid="run-properties">
            {Object.keys(run.properties).length ? (
              Object.entries(run.properties).map(([k, v]) => (
                <span key={k} className="chip">
                  {`${k}=${v}`}
                </span>
              ))
            ) : (
              <span className="muted">none</span>
            )}
          </dd>
          <dt>Preemptible</dt>
          <dd>{run.preemptible ? "yes: may be stopped for a higher-priority or under-share run, then resumed" : "no"}</dd>
          <dt>Max duration</dt>
          <dd>{run.max_run_duration_seconds ? formatDuration(run.max_run_duration_seconds) : "no limit"}</dd>
          <dt>Snapshot</dt>
          <dd>
            {run.snapshot_sha256 ? (
              <>
                {run.snapshot_files} file{run.snapshot_files === 1 ? "" : "s"}, {formatBytes(run.snapshot_size)}{" "}
                <span className="mono muted small" title={run.snapshot_sha256}>
                  {run.snapshot_sha256.slice(0, 10)}
                </span>{" "}
                <a href={`/api/runs/${run.id}/snapshot/`} download data-testid="snapshot-download">
                  Download zip
                </a>
              </>
            ) : (
              <span className="muted">none</span>
            )}
          </dd>
          {run.resubmitted_from && (
            <>
              <dt>Resubmitted from</dt>
              <dd>
                <Link to={`/runs/${run.resubmitted_from}`}>#{run.resubmitted_from}</Link>
              </dd>
            </>
          )}
        </dl>
      </section>

      <ChildRuns id={run.id} />

      <section className="card">
        <h2 className="card-title">Datasets</h2>
        {inputs.data?.length ? (
          <table className="table table-compact">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Source</th>
                <th scope="col">Mode</th>
                <th scope="col">Path in the run</th>
              </tr>
            </thead>
            <tbody>
              {inputs.data.map((input) => (
                <tr key={input.name}>
                  <td>{input.name}</td>
                  <td>
                    {input.dataset
                      ? `${input.dataset}:${input.version}${input.files ? ` (${input.files.length} of its files)` : ""}`
                      : input.urls
                        ? input.urls.join(", ")
                        : input.model
                          ? `model ${input.model}:${input.version}`
                          : `${input.datastore}/${input.datastore_path}`}
                  </td>
                  <td>
                    <span className="chip">{input.mode}</span>
                  </td>
                  <td className="mono small">{input.local_path || <span className="muted">when it starts</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="muted">{inputs.isPending ? "Loading…" : "This run uses no datasets or models."}</p>
        )}
        <h2 className="card-title">Processes</h2>
        {processes.data?.length ? (
          <table className="table table-compact">
            <thead>
              <tr>
                <th scope="col">Rank</th>
                <th scope="col">Node</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Exit</th>
              </tr>
            </thead>
            <tbody>
              {processes.data.map((p) => (
                <tr key={p.rank}>
                  <td>{p.rank}</td>
                  <td>
                    {p.node_rank}
                    {p.host && <span className="muted small"> {p.host}</span>}
                  </td>
                  <td>{p.role}</td>
                  <td>{p.status}</td>
                  <td className="num">{p.exit_code ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p className="muted">
            {processes.isPending
              ? "Loading…"
              : run.interactive
                ? "None: its client logs to it."
                : "No processes started yet."}
          </p>
        )}
        <h2 className="card-title">Times</h2>
        <dl className="props">
          <dt>Submitted</dt>
          <dd>{formatFullDateTime(run.created_at)}</dd>
          <dt>Started</dt>
          <dd>{formatFullDateTime(run.running_at)}</dd>
          <dt>Ended</dt>
          <dd>{formatFullDateTime(run.ended_at)}</dd>
          <dt>Worker</dt>
          <dd>{run.worker || "—"}</dd>
        </dl>
      </section>
    </div>
  );
}
