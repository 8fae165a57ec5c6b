import { Link } from "react-router-dom";
import { useRunChildren } from "../../api/queries";
import type { RunDetail } from "../../api/types";
import { StatusBadge } from "../../components/StatusBadge";
import { formatDuration, formatFullDateTime, formatRelative } from "../../lib/format";
import { runDuration } from "../../lib/runs";
import { useNow } from "../../lib/useNow";

/** "Runs / #parent / #run": a child run's way back to the run that created it. */
export function RunCrumbs({ run }: { run: Pick<RunDetail, "id" | "parent"> }) {
  return (
    <nav className="crumbs" aria-label="Breadcrumb">
      <Link to="/runs">Runs</Link> /{" "}
      {run.parent != null && (
        <>
          <Link to={`/runs/${run.parent}`} data-testid="parent-crumb" title="The parent run">
            #{run.parent}
          </Link>{" "}
          /{" "}
        </>
      )}
      <span aria-current="page">#{run.id}</span>
    </nav>
  );
}

/** The runs a run created (Azure's child runs, a sweep's trials); nothing when it has none. */
export function ChildRuns({ id }: { id: number }) {
  const children = useRunChildren(id);
  const rows = children.data?.results ?? [];
  const now = useNow(rows.some((child) => child.running_at && !child.ended_at));
  if (!rows.length) return null;
  const more = Boolean(children.data?.next);
  return (
    <section className="card" aria-label="Child runs">
      <h2 className="card-title">
        Child runs <span className="muted">({more ? `${rows.length}+` : rows.length})</span>
      </h2>
      <table className="table table-compact">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Name</th>
            <th scope="col">Status</th>
            <th scope="col">Started</th>
            <th scope="col" className="num">Duration</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((child) => (
            <tr key={child.id} data-testid="child-run">
              <td>
                <Link to={`/runs/${child.id}`}>#{child.id}</Link>
              </td>
              <td>
                {child.display_name || <span className="muted">—</span>}
                {Object.entries(child.tags).map(([k, v]) => (
                  <span key={k}>
                    {" "}
                    <span className="chip">{v ? `${k}=${v}` : k}</span>
                  </span>
                ))}
              </td>
              <td>
                <StatusBadge status={child.status} />
              </td>
              <td title={formatFullDateTime(child.running_at)}>
                {child.running_at ? formatRelative(child.running_at, now) : "—"}
              </td>
              <td className="num">{formatDuration(runDuration(child, now))}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {more && (
        <p className="muted small">
          Showing the first {rows.length}: <Link to={`/runs?parent=${id}`}>all of them</Link> in the run list.
        </p>
      )}
    </section>
  );
}
