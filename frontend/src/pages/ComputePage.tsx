import { Link } from "react-router-dom";
import { useComputeTargets } from "../api/queries";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { ActiveRuns } from "../features/compute/ActiveRuns";
import { ConnectionTestButton } from "../features/compute/ConnectionTest";
import { QueueBoard } from "../features/compute/QueueBoard";
import { useCurrentUser } from "../features/session";
import { useDocumentTitle } from "../lib/useDocumentTitle";
import { useRunFeed } from "../lib/useRunFeed";

export default function ComputePage() {
  useDocumentTitle("Compute");
  const user = useCurrentUser();
  useRunFeed();
  const targets = useComputeTargets({ live: true });
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Compute targets</h1>
          <p className="muted">Where runs execute, how much each can take at once, and how busy it is now.</p>
        </div>
      </header>
      {targets.isPending ? (
        <Spinner label="Loading compute targets…" />
      ) : targets.isError ? (
        <ErrorNotice error={targets.error} onRetry={() => void targets.refetch()} />
      ) : targets.data.length === 0 ? (
        <EmptyState title="No compute targets">An admin registers them in the admin site (/admin/).</EmptyState>
      ) : (
        <div className="card-grid">
          {targets.data.map((t) => {
            const load = t.max_concurrent_runs ? Math.min(1, t.running_runs / t.max_concurrent_runs) : 0;
            return (
              <article key={t.id} className={`card compute-card ${t.enabled ? "" : "is-disabled"}`} aria-label={t.name}>
                <header className="chart-head">
                  <h2 className="card-title">
                    {t.name} <span className="chip">{t.kind}</span>
                  </h2>
                  {!t.enabled && <span className="badge badge-warning">disabled</span>}
                </header>
                {t.description && <p className="muted">{t.description}</p>}
                {t.isolation &&
                  (t.isolation.sandboxed ? (
                    <p className="muted small">Scripts run {t.isolation.summary}</p>
                  ) : (
                    <p className="notice notice-danger" role="alert">
                      <strong>Warning:</strong> local runs are {t.isolation.summary}
                    </p>
                  ))}
                <dl className="stats">
                  <div>
                    <dt>Running</dt>
                    <dd>
                      <Link to={`/runs?compute_target=${encodeURIComponent(t.name)}&status=Preparing&status=Starting&status=Running&status=Finalizing`}>
                        {t.running_runs}
                      </Link>{" "}
                      <span className="muted">/ {t.max_concurrent_runs}</span>
                    </dd>
                  </div>
                  <div>
                    <dt>Queued</dt>
                    <dd>
                      <Link to={`/runs?compute_target=${encodeURIComponent(t.name)}&status=Queued`}>{t.queued_runs}</Link>
                    </dd>
                  </div>
                  <div>
                    <dt>Nodes</dt>
                    <dd>{t.max_nodes}</dd>
                  </div>
                  <div>
                    <dt>Processes / node</dt>
                    <dd>{t.max_processes_per_node}</dd>
                  </div>
                </dl>
                <div className="meter" role="meter" aria-label="Run slots in use" aria-valuemin={0} aria-valuemax={t.max_concurrent_runs} aria-valuenow={t.running_runs}>
                  <div className="meter-fill" style={{ width: `${load * 100}%` }} />
                </div>
                <ActiveRuns target={t.name} total={t.running_runs + t.queued_runs} />
                <div className="tag-row">
                  <span className="muted small">Can run:</span>
                  {t.can_run.map((k) => (
                    <span key={k} className="chip chip-soft">
                      {k}
                    </span>
                  ))}
                </div>
                <p className="muted small mono">queue {t.queue}</p>
                {user.is_admin && t.warnings.length > 0 && (
                  <ul className="notice notice-warning small" aria-label={`Config warnings of ${t.name}`}>
                    {t.warnings.map((w) => (
                      <li key={w}>{w}</li>
                    ))}
                  </ul>
                )}
                {user.is_admin && <ConnectionTestButton target={t} />}
                <QueueBoard target={t} isAdmin={user.is_admin} />
              </article>
            );
          })}
        </div>
      )}
    </section>
  );
}
