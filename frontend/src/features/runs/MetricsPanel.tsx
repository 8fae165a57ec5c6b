import { useMemo, useState } from "react";
import { EmptyState, Spinner } from "../../components/Feedback";
import type { MetricStore, XAxis } from "../../lib/metricSeries";
import { chartGroups, shapeOf } from "../../lib/metricViews";
import { ChartCard, ImageGallery, ListCard, NumberCard, TableCard, TextCard, type ChartOptions } from "./MetricCards";

/** Metrics the worker samples itself (CPU, memory, GPU…): shown on the System tab. */
export const SYSTEM_PREFIX = "system/";

export function MetricsPanel({
  runId,
  store,
  version,
  loaded,
  live,
  system = false,
}: {
  runId: number;
  store: MetricStore;
  version: number;
  loaded: boolean;
  live: boolean;
  /** The System tab: only `system/` metrics; the Metrics tab: every other one. */
  system?: boolean;
}) {
  const [axis, setAxis] = useState<XAxis>(system ? "time" : "step");
  const [smoothing, setSmoothing] = useState(0);
  const [logY, setLogY] = useState(false);
  const names = useMemo(
    () => store.names().filter((name) => name.startsWith(SYSTEM_PREFIX) === system),
    [store, version, system],
  );
  const byShape = useMemo(() => {
    const charts: string[] = [];
    const others: string[] = [];
    for (const name of names) (shapeOf(store.get(name)!) === "chart" ? charts : others).push(name);
    return { groups: chartGroups(charts), others };
  }, [store, names, version]);

  if (!loaded) return <Spinner label="Loading metrics…" />;
  if (!names.length)
    return system ? (
      <EmptyState title={live ? "No system metrics yet" : "No system metrics were sampled"}>
        The worker samples each rank's CPU, memory, disk, network and GPU every few seconds while the run is running
        (setting <code>RUNYARD_SYSTEM_METRICS_SECONDS</code>; 0 turns it off).
      </EmptyState>
    ) : (
      <EmptyState title={live ? "No metrics yet" : "This run logged no metrics"}>
        Log them from your script with <code>Run.get_context().log("loss", value, step=i)</code>; charts appear here
        as points arrive.
      </EmptyState>
    );
  const options: ChartOptions = { axis, smoothing, logY };
  return (
    <div>
      <div className="toolbar metric-toolbar">
        <span className="muted">X axis</span>
        <div className="segmented" role="radiogroup" aria-label="X axis">
          {(["step", "time"] as const).map((option) => (
            <label key={option} className={`segment ${axis === option ? "segment-on" : ""}`}>
              <input
                type="radio"
                name={`metric-axis-${system ? "system" : "run"}`}
                value={option}
                checked={axis === option}
                onChange={() => setAxis(option)}
              />
              {option === "step" ? "Step" : "Time"}
            </label>
          ))}
        </div>
        <label className="inline-label" title="Exponential moving average, as TensorBoard's">
          <span>Smoothing</span>
          <input
            type="range"
            min={0}
            max={0.99}
            step={0.01}
            value={smoothing}
            aria-label="Smoothing"
            onChange={(e) => setSmoothing(Number(e.target.value))}
          />
          <span className="muted small" data-testid="smoothing-value">
            {smoothing.toFixed(2)}
          </span>
        </label>
        <label className="check">
          <input type="checkbox" checked={logY} onChange={(e) => setLogY(e.target.checked)} />
          Log scale
        </label>
        <span className="muted small">Drag across a chart to zoom; double-click to zoom out.</span>
      </div>
      <div className="chart-grid">
        {byShape.groups.map((group) => (
          <ChartCard key={group.names.join("|")} store={store} group={group} options={options} version={version} />
        ))}
        {byShape.others.map((name) => (
          <OtherCard key={name} runId={runId} store={store} name={name} version={version} />
        ))}
      </div>
    </div>
  );
}

function OtherCard({ runId, store, name, version }: { runId: number; store: MetricStore; name: string; version: number }) {
  const series = store.get(name)!;
  switch (shapeOf(series)) {
    case "number":
      return <NumberCard series={series} />;
    case "text":
      return <TextCard series={series} />;
    case "list":
      return <ListCard series={series} version={version} />;
    case "table":
      return <TableCard series={series} version={version} />;
    case "images":
      return <ImageGallery runId={runId} series={series} version={version} />;
    default:
      return null;
  }
}
