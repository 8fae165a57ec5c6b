import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, buildQuery } from "../../api/client";
import type { Page, RunStatus, RunSummary } from "../../api/types";
import { StatusBadge } from "../../components/StatusBadge";
import { runTitle } from "../../lib/runs";

const ACTIVE: RunStatus[] = ["Queued", "Preparing", "Starting", "Running", "Finalizing", "CancelRequested"];
const SHOWN = 10;

/** A compute target's running and queued runs that the user can see, each a link. Keyed
 * under "runs", so the live run feed's refetches keep it current. */
export function ActiveRuns({ target, total }: { target: string; total: number }) {
  const path = `/api/runs/${buildQuery({ compute_target: target, status: ACTIVE, limit: SHOWN * 2 })}`;
  const runs = useQuery({ queryKey: ["runs", path], queryFn: ({ signal }) => api<Page<RunSummary>>(path, { signal }) });
  if (!runs.data || total === 0) return null;
  const rows = runs.data.results
    .slice()
    .sort((a, b) => queueOrder(a) - queueOrder(b) || b.id - a.id)
    .slice(0, SHOWN);
  const hidden = total - rows.length;
  return (
    <div className="active-runs">
      <h3 className="small muted">Running and queued</h3>
      <ul className="plain-list" aria-label={`Runs on ${target}`}>
        {rows.map((run) => (
          <li key={run.id}>
            <Link to={`/runs/${run.id}`}>
              #{run.id} {runTitle(run)}
            </Link>{" "}
            <StatusBadge status={run.status} queuePosition={run.queue_position} />{" "}
            <span className="muted small">{run.submitted_by}</span>
          </li>
        ))}
      </ul>
      {hidden > 0 && (
        <p className="muted small">
          <Link to={`/runs?compute_target=${encodeURIComponent(target)}`}>
            {hidden} more
          </Link>{" "}
          (other teams' runs are counted but not listed)
        </p>
      )}
    </div>
  );
}

/** Running first, then the queue in its order. */
function queueOrder(run: RunSummary): number {
  return run.status === "Queued" ? 1 + (run.queue_position ?? 1e6) : 0;
}
