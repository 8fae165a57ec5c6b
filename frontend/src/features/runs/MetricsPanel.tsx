import { useMemo, useState } from "react";
import { EmptyState, Spinner } from "../../components/Feedback";
import { LineChart } from "../../components/LineChart";
import { formatNumber } from "../../lib/format";
import { chartColumns, type MetricStore, type XAxis } from "../../lib/metricSeries";

export function MetricsPanel({
  store,
  version,
  loaded,
  live,
}: {
  store: MetricStore;
  version: number;
  loaded: boolean;
  live: boolean;
}) {
  const [axis, setAxis] = useState<XAxis>("step");
  const names = useMemo(() => store.names(), [store, version]);
  if (!loaded) return <Spinner label="Loading metrics…" />;
  if (!names.length)
    return (
      <EmptyState title={live ? "No metrics yet" : "This run logged no metrics"}>
        Log them from your script with <code>Run.get_context().log("loss", value, step=i)</code>; charts appear here
        as points arrive.
      </EmptyState>
    );
  return (
    <div>
      <div className="toolbar">
        <span className="muted">X axis</span>
        <div className="segmented" role="radiogroup" aria-label="X axis">
          {(["step", "time"] as const).map((option) => (
            <label key={option} className={`segment ${axis === option ? "segment-on" : ""}`}>
              <input
                type="radio"
                name="metric-axis"
                value={option}
                checked={axis === option}
                onChange={() => setAxis(option)}
              />
              {option === "step" ? "Step" : "Time"}
            </label>
          ))}
        </div>
      </div>
      <div className="chart-grid">
        {names.map((name) => (
          <MetricCard key={name} store={store} name={name} axis={axis} version={version} />
        ))}
      </div>
    </div>
  );
}

function MetricCard({ store, name, axis, version }: { store: MetricStore; name: string; axis: XAxis; version: number }) {
  const series = store.get(name)!;
  const [xs, ys] = useMemo(() => chartColumns(series, axis), [series, axis, version]);
  const last = ys.length ? ys[ys.length - 1] : null;
  return (
    <section className="card chart-card" data-metric={name} aria-label={`Metric ${name}`}>
      <header className="chart-head">
        <h3>{name}</h3>
        <span className="muted small" data-testid="metric-points">
          {ys.length} point{ys.length === 1 ? "" : "s"}
          {last != null && <> · last {formatNumber(last)}</>}
        </span>
      </header>
      {ys.length ? (
        <LineChart title={name} xs={xs} ys={ys} xIsTime={axis === "time"} xLabel={axis === "time" ? "time" : "step"} />
      ) : series.lastText != null ? (
        <p className="metric-text" data-testid="metric-text">
          {series.lastText}
        </p>
      ) : (
        <p className="muted">
          {series.otherKinds} non-scalar value{series.otherKinds === 1 ? "" : "s"} (lists, rows, images or text) logged.
        </p>
      )}
    </section>
  );
}
