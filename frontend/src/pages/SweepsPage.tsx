import { Link } from "react-router-dom";
import { useSweeps } from "../api/queries";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { StatusBadge } from "../components/StatusBadge";
import { formatRelative } from "../lib/format";
import { useDocumentTitle } from "../lib/useDocumentTitle";

export default function SweepsPage() {
  useDocumentTitle("Sweeps");
  const sweeps = useSweeps();
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Sweeps</h1>
          <p className="muted">Hyperparameter searches (Azure's HyperDrive): one parent run, one child run per point.</p>
        </div>
        <div className="header-actions">
          <Link to="/runs/new?sweep=1" className="btn btn-primary">
            New sweep
          </Link>
        </div>
      </header>
      {sweeps.isPending ? (
        <Spinner />
      ) : sweeps.isError ? (
        <ErrorNotice error={sweeps.error} />
      ) : !sweeps.data.length ? (
        <EmptyState title="No sweeps yet">Start one from New run → “Run as a sweep”, the SDK or `runyard sweep submit`.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Sweep</th>
                <th scope="col">Status</th>
                <th scope="col">Experiment</th>
                <th scope="col">Sampling</th>
                <th scope="col">Primary metric</th>
                <th scope="col">Children</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {sweeps.data.map((s) => (
                <tr key={s.id}>
                  <td>
                    <Link to={`/sweeps/${s.id}`}>#{s.id}</Link> {s.display_name}
                  </td>
                  <td>
                    <StatusBadge status={s.status} />
                  </td>
                  <td>{s.experiment}</td>
                  <td>{s.sampling}</td>
                  <td>
                    {s.goal} {s.primary_metric}
                  </td>
                  <td className="num">
                    {s.proposed} / {s.max_total_runs}
                  </td>
                  <td>{formatRelative(s.created_at, Date.now())}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
