import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api } from "../api/client";
import { useSweep, useSweepChildren, useSweepSeries } from "../api/queries";
import { TERMINAL_STATUSES, type Sweep, type SweepChild } from "../api/types";
import { ErrorNotice, Spinner } from "../components/Feedback";
import { StatusBadge } from "../components/StatusBadge";
import { OverlayChart } from "../features/sweeps/OverlayChart";
import { ParallelCoordinates } from "../features/sweeps/ParallelCoordinates";
import { ScatterChart } from "../features/sweeps/ScatterChart";
import { formatRelative } from "../lib/format";
import { useDocumentTitle } from "../lib/useDocumentTitle";

export default function SweepPage() {
  const id = Number(useParams().id);
  const sweep = useSweep(id);
  useDocumentTitle(sweep.data ? `Sweep #${id} ${sweep.data.display_name}` : `Sweep ${id}`);
  if (sweep.isPending) return <Spinner label="Loading sweep…" />;
  if (sweep.isError) return <ErrorNotice error={sweep.error} onRetry={() => void sweep.refetch()} />;
  return <SweepView sweep={sweep.data} />;
}

const fmt = (v: number | null | undefined) => (v == null ? "—" : String(+v.toPrecision(6)));

function SweepView({ sweep }: { sweep: Sweep }) {
  const live = !sweep.ended_at;
  const [childrenSettled, setChildrenSettled] = useState(false);
  // Children keep changing until the last one ends, which may be after the sweep's last poll.
  const children = useSweepChildren(sweep.id, live || !childrenSettled);
  const series = useSweepSeries(sweep.id, live || !childrenSettled);
  // Settled once every child the sweep counts is listed and ended (an early empty list is not).
  const total = Object.values(sweep.children_by_status ?? {}).reduce((sum, n) => sum + Number(n), 0);
  const settled =
    !!children.data &&
    children.data.length >= total &&
    children.data.every((c) => TERMINAL_STATUSES.includes(c.status));
  if (!live && settled !== childrenSettled) setChildrenSettled(settled);
  const config = sweep.config;
  const metric = config.primary_metric_config.name;
  const maximize = config.primary_metric_config.goal === "maximize";
  const sampling = config.hyperparameter_sampling;
  const parameters = sampling.parameter_order ?? Object.keys(sampling.parameter_space);
  const rows = children.data ?? [];
  const bestId = sweep.best_child?.id ?? null;
  const counts = sweep.children_by_status;
  const stopped = rows.filter((r) => r.terminated_by).length;
  const running = (counts.Running ?? 0) + (counts.Preparing ?? 0) + (counts.Starting ?? 0) + (counts.Queued ?? 0);
  const policy = config.policy?.name ?? "Default";
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <div className="crumbs">
            <Link to="/runs">Runs</Link> / <Link to="/sweeps">Sweeps</Link> / <span>#{sweep.id}</span>
          </div>
          <h1>
            {sweep.display_name || `Sweep ${sweep.id}`} <StatusBadge status={sweep.status} />
          </h1>
          <p className="muted">
            {sweep.experiment} · {sweep.script} on {sweep.compute_target} · {sweep.environment} · by {sweep.submitted_by}{" "}
            {formatRelative(sweep.created_at, Date.now())}
          </p>
          <p className="muted" data-testid="sweep-config">
            {config.hyperparameter_sampling.name} sampling · {maximize ? "maximize" : "minimize"} <strong>{metric}</strong> ·
            policy {policy} · {config.max_concurrent_runs} at a time · seed {config.seed} · priority{" "}
            <span className="chip chip-soft">{sweep.priority}</span>
          </p>
          {sweep.ended_at && <p className="notice notice-info">Ended: {sweep.end_reason}</p>}
        </div>
        <div className="header-actions">
          {live && <CancelSweep id={sweep.id} />}
          <Link className="btn" to={`/runs/${sweep.id}`}>
            Parent run
          </Link>
        </div>
      </header>

      <dl className="stats" aria-label="Sweep progress">
        <div>
          <dt>Children</dt>
          <dd data-testid="sweep-proposed">
            {sweep.proposed} / {config.max_total_runs}
          </dd>
        </div>
        <div>
          <dt>Queued or running</dt>
          <dd>{running}</dd>
        </div>
        <div>
          <dt>Completed</dt>
          <dd>{counts.Completed ?? 0}</dd>
        </div>
        <div>
          <dt>Stopped by policy</dt>
          <dd>{stopped}</dd>
        </div>
      </dl>

      {sweep.best_child && (
        <section className="card best-card" aria-label="Best run" data-testid="best-run">
          <h2 className="card-title">Best run</h2>
          <p>
            <Link to={`/runs/${sweep.best_child.id}`}>#{sweep.best_child.id}</Link> · {metric}{" "}
            <strong>{fmt(sweep.best_child.best_primary_metric)}</strong> · {paramText(sweep.best_child.parameters)}
          </p>
        </section>
      )}

      <section className="card" aria-label="Children">
        <h2 className="card-title">Children</h2>
        {children.isPending ? (
          <Spinner />
        ) : children.isError ? (
          <ErrorNotice error={children.error} />
        ) : (
          <ChildrenTable rows={rows} parameters={parameters} metric={metric} bestId={bestId} />
        )}
      </section>

      <div className="chart-grid">
        <section className="card" aria-label={`${metric} of every child`}>
          <h2 className="card-title">
            {metric} of every child <span className="muted small">(by interval; best in red, stopped dashed)</span>
          </h2>
          {series.data && (
            <OverlayChart
              metric={metric}
              series={series.data.map((s) => {
                const child = rows.find((r) => r.id === s.run);
                return {
                  label: `#${s.run}`,
                  values: s.points.map((p) => p.value),
                  highlight: s.run === bestId,
                  faded: !!child?.terminated_by,
                };
              })}
            />
          )}
        </section>
        <ScatterCard rows={rows} parameters={parameters} metric={metric} bestId={bestId} />
      </div>
      {parameters.length > 0 && (
        <section className="card" aria-label="Parallel coordinates">
          <h2 className="card-title">Parameters and {metric}</h2>
          <ParallelCoordinates
            parameters={parameters}
            metric={metric}
            maximize={maximize}
            rows={rows.map((r) => ({ id: r.id, values: r.parameters, metric: r.best_primary_metric, best: r.id === bestId }))}
          />
        </section>
      )}
    </section>
  );
}

function paramText(params: Record<string, unknown>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toPrecision(4) : String(v)}`)
    .join(" ");
}

function ChildrenTable({
  rows,
  parameters,
  metric,
  bestId,
}: {
  rows: SweepChild[];
  parameters: string[];
  metric: string;
  bestId: number | null;
}) {
  if (!rows.length) return <p className="muted">No child yet: the controller starts them in a moment.</p>;
  return (
    <div className="table-wrap table-scroll">
      <table className="table table-compact" data-testid="children-table">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            {parameters.map((p) => (
              <th scope="col" key={p} className="mono">
                {p}
              </th>
            ))}
            <th scope="col">Best {metric}</th>
            <th scope="col">Last</th>
            <th scope="col">Intervals</th>
            <th scope="col">Termination</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id} className={row.id === bestId ? "row-best" : undefined} data-testid="sweep-child">
              <td>{row.index}</td>
              <td>
                <Link to={`/runs/${row.id}`}>#{row.id}</Link>
                {row.id === bestId && <span className="badge badge-success best-mark">best</span>}
              </td>
              <td>
                <StatusBadge status={row.status} />
              </td>
              {parameters.map((p) => (
                <td key={p} className="mono">
                  {typeof row.parameters[p] === "number"
                    ? +(row.parameters[p] as number).toPrecision(5)
                    : String(row.parameters[p])}
                </td>
              ))}
              <td className="num">{fmt(row.best_primary_metric)}</td>
              <td className="num">{fmt(row.last_primary_metric)}</td>
              <td className="num">{row.intervals}</td>
              <td title={row.termination_reason}>
                {row.terminated_by ? (
                  <span data-testid="termination">
                    {row.terminated_by}: <span className="muted small">{row.termination_reason}</span>
                  </span>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ScatterCard({
  rows,
  parameters,
  metric,
  bestId,
}: {
  rows: SweepChild[];
  parameters: string[];
  metric: string;
  bestId: number | null;
}) {
  const [chosen, setChosen] = useState(parameters[0] ?? "");
  const points = useMemo(
    () =>
      rows
        .filter((r) => r.best_primary_metric != null)
        .map((r) => ({
          id: r.id,
          x: r.parameters[chosen],
          y: r.best_primary_metric as number,
          best: r.id === bestId,
          stopped: !!r.terminated_by,
        })),
    [rows, chosen, bestId],
  );
  return (
    <section className="card" aria-label={`${metric} against a parameter`}>
      <div className="chart-head">
        <h2 className="card-title">{metric} against</h2>
        <select aria-label="Parameter" value={chosen} onChange={(e) => setChosen(e.target.value)}>
          {parameters.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </div>
      <ScatterChart parameter={chosen} metric={metric} points={points} />
    </section>
  );
}

/** Two steps, as canceling a run: the sweep and every child still going. */
function CancelSweep({ id }: { id: number }) {
  const [confirming, setConfirming] = useState(false);
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => api<Sweep>(`/api/sweeps/${id}/cancel/`, { method: "POST", json: {} }),
    onSuccess: (sweep) => {
      queryClient.setQueryData(["sweep", id], sweep);
      void queryClient.invalidateQueries({ queryKey: ["sweep", id, "children"] });
      setConfirming(false);
    },
  });
  if (!confirming)
    return (
      <button type="button" className="btn btn-danger-outline" onClick={() => setConfirming(true)}>
        Cancel sweep
      </button>
    );
  return (
    <div className="confirm" role="group" aria-label="Confirm cancel">
      <span>Cancel the sweep and every child still running?</span>
      <button type="button" className="btn btn-danger" onClick={() => cancel.mutate()} disabled={cancel.isPending} autoFocus>
        {cancel.isPending ? "Canceling…" : "Yes, cancel sweep"}
      </button>
      <button type="button" className="btn" onClick={() => setConfirming(false)}>
        Keep going
      </button>
      {cancel.isError && <ErrorNotice error={cancel.error} />}
    </div>
  );
}
