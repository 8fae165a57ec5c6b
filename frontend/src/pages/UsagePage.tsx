import { useState } from "react";
import { usageQuery, useUsage } from "../api/scheduling";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { useDocumentTitle } from "../lib/useDocumentTitle";

const GROUPS = ["team", "user", "experiment", "target"] as const;
const METRICS = [
  ["run_hours", "Run-hours"],
  ["gpu_hours", "GPU-hours"],
  ["queue_wait_hours", "Queue wait (h)"],
  ["cpu_percent", "CPU per rank (% of a core)"],
  ["gpu_utilization", "GPU utilization (%)"],
] as const;

/** Efficiency figures are null where no system metrics were sampled: shown as "—", not 0. */
function figure(value: number | null | undefined): string {
  return value == null ? "—" : value.toFixed(2);
}

/** Accounting: run-hours, GPU-hours, queue wait and efficiency (from system metrics, where
 * sampled) of your teams' runs, as bars and a table, with CSV export. */
export default function UsagePage() {
  useDocumentTitle("Usage");
  const [groupBy, setGroupBy] = useState<(typeof GROUPS)[number]>("team");
  const [days, setDays] = useState(30);
  const usage = useUsage(groupBy, days);
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Usage</h1>
          <p className="muted">
            Run-hours, GPU-hours, time spent queued and efficiency (CPU and GPU use from system metrics, where sampled)
            of the runs submitted in the period.
          </p>
        </div>
        <a className="btn" href={`/api/usage/csv/?${usageQuery(groupBy, days)}`} download>
          Export CSV
        </a>
      </header>
      <div className="toolbar">
        <label>
          Group by{" "}
          <select value={groupBy} onChange={(e) => setGroupBy(e.target.value as (typeof GROUPS)[number])}>
            {GROUPS.map((g) => (
              <option key={g}>{g}</option>
            ))}
          </select>
        </label>
        <label>
          Period{" "}
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {[1, 7, 30, 90, 365].map((d) => (
              <option key={d} value={d}>
                last {d} day{d > 1 ? "s" : ""}
              </option>
            ))}
          </select>
        </label>
      </div>
      {usage.isPending ? (
        <Spinner label="Adding up usage…" />
      ) : usage.isError ? (
        <ErrorNotice error={usage.error} onRetry={() => void usage.refetch()} />
      ) : usage.data.length === 0 ? (
        <EmptyState title="No runs in this period">Runs submitted in the period show up here.</EmptyState>
      ) : (
        <>
          <div className="card-grid">
            {METRICS.map(([key, title]) => {
              const shown = usage.data.slice(0, 12).filter((r) => r[key] != null);
              if (shown.length === 0) return null; // nothing sampled: no empty chart
              const top = Math.max(...shown.map((r) => r[key] ?? 0), 1e-9);
              return (
                <article key={key} className="card" aria-label={`${title} by ${groupBy}`}>
                  <h2 className="card-title">{title}</h2>
                  <ul className="bars">
                    {shown.map((r) => (
                      <li key={`${r.key}/${r.team}`}>
                        <span className="bar-label">{r.key}</span>
                        <span className="bar" style={{ width: `${((r[key] ?? 0) / top) * 100}%` }} />
                        <span className="bar-value">{figure(r[key])}</span>
                      </li>
                    ))}
                  </ul>
                </article>
              );
            })}
          </div>
          <table className="table" aria-label="Usage">
            <thead>
              <tr>
                <th>{groupBy}</th>
                {groupBy !== "team" && groupBy !== "target" && <th>team</th>}
                <th>runs</th>
                <th>run-hours</th>
                <th>GPU-hours</th>
                <th>queue wait (h)</th>
                <th title="Mean CPU per rank, % of one core, weighted by run-hours">CPU per rank (%)</th>
                <th title="Mean GPU utilization, weighted by run-hours">GPU utilization (%)</th>
              </tr>
            </thead>
            <tbody>
              {usage.data.map((r) => (
                <tr key={`${r.key}/${r.team}`}>
                  <td>{r.key}</td>
                  {groupBy !== "team" && groupBy !== "target" && <td>{r.team}</td>}
                  <td>{r.runs}</td>
                  <td>{r.run_hours.toFixed(2)}</td>
                  <td>{r.gpu_hours.toFixed(2)}</td>
                  <td>{r.queue_wait_hours.toFixed(2)}</td>
                  <td>{figure(r.cpu_percent)}</td>
                  <td>{figure(r.gpu_utilization)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
