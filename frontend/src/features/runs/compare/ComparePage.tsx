import "./compare.css";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { EmptyState, ErrorNotice, Spinner } from "../../../components/Feedback";
import { StatusBadge } from "../../../components/StatusBadge";
import type { RunStatus } from "../../../api/types";
import { useDocumentTitle } from "../../../lib/useDocumentTitle";
import { useCompare, useCompareSeries, useCompareSnapshots } from "./api";
import {
  alignSeries,
  chartedMetrics,
  diffRows,
  environmentRows,
  metricRows,
  parallelData,
  runColor,
  runLabel,
  setupRows,
} from "./compareData";
import { DiffTable } from "./DiffTable";
import { MultiLineChart } from "./MultiLineChart";
import { ParallelCoordinates } from "./ParallelCoordinates";
import { SnapshotDiff } from "./SnapshotDiff";

function idsFrom(params: URLSearchParams): number[] {
  const raw = params.get("ids") ?? "";
  return [...new Set(raw.split(",").map((s) => Number(s.trim())))].filter((n) => Number.isInteger(n) && n > 0).slice(0, 20);
}

/** /runs/compare?ids=1,2,3: parameters and final metrics side by side, overlaid charts, parallel coordinates, setup and code diffs. */
export default function ComparePage() {
  const [params] = useSearchParams();
  const ids = useMemo(() => idsFrom(params), [params]);
  useDocumentTitle(`Compare ${ids.length} runs`);
  const compare = useCompare(ids);
  const series = useCompareSeries(ids);
  const [onlyDifferences, setOnlyDifferences] = useState(false);
  const [showCode, setShowCode] = useState(true);
  const snapshots = useCompareSnapshots(ids, showCode);
  const runs = useMemo(() => compare.data?.runs ?? [], [compare.data]);
  const labels = runs.map(runLabel);
  const colors = runs.map((_, i) => runColor(i));
  const runIds = runs.map((r) => r.id);

  const metrics = useMemo(() => chartedMetrics(series.data?.series ?? [], runIds), [series.data, runIds.join(",")]); // eslint-disable-line react-hooks/exhaustive-deps
  const charts = useMemo(() => {
    const byKey = new Map((series.data?.series ?? []).map((s) => [`${s.run}|${s.name}`, s]));
    return metrics.map(({ name, common }) => {
      const present = runs.map((r, i) => ({ run: r, index: i, s: byKey.get(`${r.id}|${name}`) })).filter((p) => p.s);
      return {
        name,
        common,
        data: alignSeries(present.map((p) => ({ steps: p.s!.steps, values: p.s!.values }))),
        series: present.map((p) => ({ label: labels[p.index], color: colors[p.index] })),
        thinned: present.some((p) => p.s!.total > p.s!.values.length),
      };
    });
  }, [metrics, series.data, runs]); // eslint-disable-line react-hooks/exhaustive-deps

  const metricNames = Object.keys(Object.assign({}, ...runs.map((r) => r.metrics)) as Record<string, unknown>).sort();
  const declared = runs.map((r) => r.properties.primary_metric).find((m) => m && metricNames.includes(m));
  const [primary, setPrimary] = useState<string>("");
  const primaryMetric = primary || declared || metrics.find((m) => m.common)?.name || metricNames[0] || "";
  const parallel = useMemo(() => parallelData(runs, primaryMetric), [runs, primaryMetric]);

  // The benchmark (bench/compare_view.py) reads this mark: every chart drawn once.
  const drawnCharts = useRef(new Set<string>());
  const [allDrawn, setAllDrawn] = useState(false);
  const onDrawn = useCallback(
    (name: string) => {
      drawnCharts.current.add(name);
      if (drawnCharts.current.size === charts.length && !performance.getEntriesByName("compare-charts-drawn").length) {
        performance.mark("compare-charts-drawn");
        setAllDrawn(true);
      }
    },
    [charts.length],
  );
  useEffect(() => {
    drawnCharts.current = new Set();
  }, [charts]);

  if (ids.length < 2)
    return (
      <EmptyState title="Pick runs to compare" action={<Link to="/runs" className="btn btn-primary">Go to runs</Link>}>
        Select two or more runs in the run list and press Compare.
      </EmptyState>
    );
  if (compare.isPending) return <Spinner label="Loading runs…" />;
  if (compare.isError) return <ErrorNotice error={compare.error} onRetry={() => void compare.refetch()} />;

  return (
    <section className="page compare-page">
      <header className="page-header">
        <div>
          <h1>Compare {runs.length} runs</h1>
          <div className="compare-runs">
            {runs.map((r, i) => (
              <Link key={r.id} to={`/runs/${r.id}`} className="compare-run">
                <span className="dot" style={{ background: colors[i] }} aria-hidden="true" />
                {labels[i]} <StatusBadge status={r.status as RunStatus} />
              </Link>
            ))}
          </div>
        </div>
        <label className="check">
          <input type="checkbox" checked={onlyDifferences} onChange={(e) => setOnlyDifferences(e.target.checked)} />
          Only differences
        </label>
      </header>
      {compare.data!.missing.length > 0 && (
        <div className="notice notice-warning" role="status">
          Not shown: {compare.data!.missing.map((id) => `#${id}`).join(", ")} (not found in your teams).
        </div>
      )}

      <div className="compare-grid">
        <section className="card" aria-labelledby="cmp-params">
          <h2 id="cmp-params">Parameters</h2>
          <DiffTable
            rows={diffRows(runs.map((r) => r.params))}
            runLabels={labels}
            onlyDifferences={onlyDifferences}
            empty="No parameters (--name value arguments)."
            caption="Parameters by run"
          />
        </section>
        <section className="card" aria-labelledby="cmp-metrics">
          <h2 id="cmp-metrics">Final metrics</h2>
          <DiffTable
            rows={metricRows(runs)}
            runLabels={labels}
            onlyDifferences={onlyDifferences}
            empty="No scalar metrics logged."
            caption="Latest metric values by run"
          />
        </section>
      </div>

      <section aria-labelledby="cmp-charts">
        <h2 id="cmp-charts">Metrics over steps</h2>
        {series.isPending ? (
          <Spinner label="Loading metric series…" />
        ) : series.isError ? (
          <ErrorNotice error={series.error} onRetry={() => void series.refetch()} />
        ) : charts.length === 0 ? (
          <p className="muted">No scalar metrics to chart.</p>
        ) : (
          <div className="chart-grid" data-charts={charts.length} data-drawn={allDrawn || undefined}>
            {charts.map((chart) => (
              <div key={chart.name} className="card chart-card" data-metric={chart.name}>
                <div className="chart-head">
                  <h3>{chart.name}</h3>
                  <span className="muted small">
                    {chart.common ? "" : "not in every run · "}
                    {chart.thinned ? "thinned for display" : ""}
                  </span>
                </div>
                <MultiLineChart title={chart.name} data={chart.data} series={chart.series} onDrawn={() => onDrawn(chart.name)} />
              </div>
            ))}
          </div>
        )}
      </section>

      <section className="card" aria-labelledby="cmp-parallel">
        <div className="chart-head">
          <h2 id="cmp-parallel">Parameters → {primaryMetric || "metric"}</h2>
          {metricNames.length > 0 && (
            <select aria-label="Primary metric" value={primaryMetric} onChange={(e) => setPrimary(e.target.value)}>
              {metricNames.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          )}
        </div>
        <ParallelCoordinates data={parallel} colors={colors} labels={labels} />
      </section>

      <div className="compare-grid">
        <section className="card" aria-labelledby="cmp-setup">
          <h2 id="cmp-setup">Arguments and setup</h2>
          <DiffTable rows={setupRows(runs)} runLabels={labels} onlyDifferences={onlyDifferences} empty="" caption="Setup by run" />
          <h3>Tags</h3>
          <DiffTable rows={diffRows(runs.map((r) => r.tags))} runLabels={labels} onlyDifferences={onlyDifferences} empty="No tags." caption="Tags by run" />
        </section>
        <section className="card" aria-labelledby="cmp-env">
          <h2 id="cmp-env">Environments</h2>
          <DiffTable
            rows={environmentRows(runs)}
            runLabels={labels}
            onlyDifferences={onlyDifferences}
            empty="No environments (interactive runs)."
            caption="Environment specs by run"
          />
        </section>
      </div>

      <section className="card" aria-labelledby="cmp-code">
        <div className="chart-head">
          <h2 id="cmp-code">Code snapshots</h2>
          {!showCode && (
            <button type="button" className="btn btn-small" onClick={() => setShowCode(true)}>
              Compare code
            </button>
          )}
        </div>
        {showCode &&
          (snapshots.isPending ? (
            <Spinner label="Reading the snapshots…" />
          ) : snapshots.isError ? (
            <ErrorNotice error={snapshots.error} onRetry={() => void snapshots.refetch()} />
          ) : (
            <SnapshotDiff diff={snapshots.data!} runIds={runIds} runLabels={labels} />
          ))}
      </section>
    </section>
  );
}
