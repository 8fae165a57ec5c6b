import "./rich.css";
import { useMemo, useRef, useState } from "react";
import type uPlot from "uplot";
import { LineChart, plotPng, type ChartSeries } from "../../components/LineChart";
import { formatDateTime, formatNumber } from "../../lib/format";
import { chartColumns, type Cell, type MetricSeries, type MetricStore, type XAxis } from "../../lib/metricSeries";
import {
  downloadBlob,
  forLogScale,
  joinSeries,
  numericColumns,
  rowsCsv,
  safeFileName,
  seriesCsv,
  smooth,
  sortRows,
  tableColumns,
  toCsv,
  type ChartGroup,
  type SortDirection,
} from "../../lib/metricViews";

export interface ChartOptions {
  axis: XAxis;
  smoothing: number;
  logY: boolean;
}

/** Rows drawn in a table card; the CSV export has them all. */
const TABLE_ROWS = 500;

function cellText(cell: Cell | undefined): string {
  if (cell == null) return "";
  return typeof cell === "number" ? formatNumber(cell) : String(cell);
}

/** One chart for a scalar metric, or for a train/val pair overlaid. */
export function ChartCard({
  store,
  group,
  options,
  version,
}: {
  store: MetricStore;
  group: ChartGroup;
  options: ChartOptions;
  version: number;
}) {
  const plotRef = useRef<uPlot | null>(null);
  const members = group.names.map((name) => store.get(name)!);
  const [xs, series, raw] = useMemo(() => {
    const columns = members.map((m) => chartColumns(m, options.axis));
    const [x, ...ys] = joinSeries(columns);
    const lines: ChartSeries[] = ys.map((values, i) => {
      let shown = smooth(values, options.smoothing);
      if (options.logY) shown = forLogScale(shown);
      return { label: members[i].name, values: shown };
    });
    return [x, lines, ys] as const;
    // members are read from the store, which `version` tracks.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [store, group, options.axis, options.smoothing, options.logY, version]);
  const points = members.reduce((n, m) => n + m.values.length, 0);
  const lastOf = (m: MetricSeries) => (m.values.length ? m.values[m.values.length - 1] : null);
  const exportCsv = () => {
    if (members.length === 1) downloadBlob(seriesCsv(members[0]), `${safeFileName(group.title)}.csv`);
    else
      downloadBlob(
        toCsv([options.axis, ...members.map((m) => m.name)], xs.map((x, i) => [x, ...raw.map((column) => column[i])])),
        `${safeFileName(group.title)}.csv`,
      );
  };
  const exportPng = async () => {
    if (!plotRef.current) return;
    const png = await plotPng(plotRef.current);
    if (png) downloadBlob(png, `${safeFileName(group.title)}.png`);
  };
  return (
    <section className="card chart-card" data-metric={group.names.join(" ")} aria-label={`Metric ${group.title}`}>
      <header className="chart-head">
        <h3>{group.title}</h3>
        <span className="muted small" data-testid="metric-points">
          {points} point{points === 1 ? "" : "s"}
          {members.map((m) => {
            const last = lastOf(m);
            return last == null ? null : (
              <span key={m.name}>
                {" "}
                · {members.length > 1 ? `${m.name} ` : "last "}
                {formatNumber(last)}
              </span>
            );
          })}
        </span>
      </header>
      <LineChart
        title={group.title}
        xs={xs}
        series={series}
        xIsTime={options.axis === "time"}
        xLabel={options.axis === "time" ? "time" : "step"}
        logY={options.logY}
        plotRef={plotRef}
      />
      <div className="chart-actions">
        <button type="button" className="btn btn-small" onClick={exportCsv}>
          CSV
        </button>
        <button type="button" className="btn btn-small" onClick={() => void exportPng()}>
          PNG
        </button>
      </div>
    </section>
  );
}

/** A metric logged once: its value, large, instead of a one-dot chart. */
export function NumberCard({ series }: { series: MetricSeries }) {
  const value = series.values[0];
  return (
    <section className="card number-card" data-metric={series.name} aria-label={`Metric ${series.name}`}>
      <h3>{series.name}</h3>
      <p className="number-value" data-testid="metric-number" title={String(value)}>
        {formatNumber(value)}
      </p>
      <p className="muted small">
        {series.steps[0] != null ? `step ${series.steps[0]} · ` : ""}
        logged {formatDateTime(new Date(series.times[0] * 1000).toISOString())}
      </p>
    </section>
  );
}

export function TextCard({ series }: { series: MetricSeries }) {
  return (
    <section className="card number-card" data-metric={series.name} aria-label={`Metric ${series.name}`}>
      <h3>{series.name}</h3>
      <p className="metric-text" data-testid="metric-text">
        {series.lastText}
      </p>
    </section>
  );
}

/** log_list: each call is a list; the chosen one (the latest by default) as a chart or as values. */
export function ListCard({ series, version }: { series: MetricSeries; version: number }) {
  const [picked, setPicked] = useState<number | null>(null);
  const index = picked ?? series.lists.length - 1;
  const values = series.lists[index] ?? [];
  const numeric = values.length > 1 && values.every((v) => typeof v === "number");
  const columns = useMemo(
    () => [values.map((_, i) => i), values as number[]] as const,
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [series, index, version],
  );
  return (
    <section className="card chart-card" data-metric={series.name} aria-label={`Metric ${series.name}`}>
      <header className="chart-head">
        <h3>{series.name}</h3>
        <span className="muted small">
          list of {values.length} value{values.length === 1 ? "" : "s"}
          {series.lists.length > 1 && <> · logged {series.lists.length} times</>}
        </span>
      </header>
      {series.lists.length > 1 && (
        <label className="inline-label">
          <span>Call</span>
          <input
            type="range"
            min={0}
            max={series.lists.length - 1}
            value={index}
            aria-label={`${series.name} call`}
            onChange={(e) => setPicked(Number(e.target.value))}
          />
          <span className="muted small">
            {index + 1} of {series.lists.length}
          </span>
        </label>
      )}
      {numeric ? (
        <LineChart title={series.name} xs={columns[0]} ys={columns[1]} xIsTime={false} xLabel="index" />
      ) : (
        <ol className="list-values" start={0}>
          {values.map((v, i) => (
            <li key={i}>{cellText(v)}</li>
          ))}
        </ol>
      )}
      <div className="chart-actions">
        <button
          type="button"
          className="btn btn-small"
          onClick={() =>
            downloadBlob(
              toCsv(
                ["call", "index", "value"],
                series.lists.flatMap((list, call) => list.map((v, i) => [call, i, v])),
              ),
              `${safeFileName(series.name)}.csv`,
            )
          }
        >
          CSV
        </button>
      </div>
    </section>
  );
}

/** log_row / log_table: a sortable table, and its numeric columns charted by row. */
export function TableCard({ series, version }: { series: MetricSeries; version: number }) {
  const [sort, setSort] = useState<{ column: string; direction: SortDirection } | null>(null);
  const columns = useMemo(() => tableColumns(series.rows), [series, version]);
  const numeric = useMemo(() => numericColumns(series.rows), [series, version]);
  const rows = useMemo(() => {
    const indexed = series.rows.map((row, i) => ({ ...row, "#": i }) as Record<string, Cell>);
    return sort ? sortRows(indexed, sort.column, sort.direction) : indexed;
  }, [series, version, sort]);
  const chart = useMemo(() => {
    const xs = series.rows.map((_, i) => i);
    return { xs, series: numeric.map((c) => ({ label: c, values: series.rows.map((r) => (r[c] as number) ?? null) })) };
  }, [series, numeric, version]);
  const toggle = (column: string) =>
    setSort((now) =>
      now?.column === column
        ? { column, direction: now.direction === "asc" ? "desc" : "asc" }
        : { column, direction: "asc" },
    );
  const shown = ["#", ...columns];
  return (
    <section className="card chart-card table-card" data-metric={series.name} aria-label={`Metric ${series.name}`}>
      <header className="chart-head">
        <h3>{series.name}</h3>
        <span className="muted small" data-testid="metric-rows">
          {series.rows.length} row{series.rows.length === 1 ? "" : "s"} · {columns.length} column
          {columns.length === 1 ? "" : "s"}
        </span>
      </header>
      <div className="table-scroll">
        <table className="table metric-table">
          <thead>
            <tr>
              {shown.map((column) => (
                <th
                  key={column}
                  aria-sort={
                    sort?.column === column ? (sort.direction === "asc" ? "ascending" : "descending") : undefined
                  }
                >
                  <button type="button" className="th-sort" onClick={() => toggle(column)}>
                    {column}
                    {sort?.column === column ? (sort.direction === "asc" ? " ▲" : " ▼") : ""}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.slice(0, TABLE_ROWS).map((row) => (
              <tr key={String(row["#"])}>
                {shown.map((column) => (
                  <td key={column} className={typeof row[column] === "number" ? "num" : undefined}>
                    {cellText(row[column])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.length > TABLE_ROWS && (
        <p className="muted small">
          First {TABLE_ROWS} of {rows.length.toLocaleString()} rows; the CSV has them all.
        </p>
      )}
      {series.rows.length > 1 && numeric.length > 0 && (
        <LineChart title={series.name} xs={chart.xs} series={chart.series} xIsTime={false} xLabel="row" height={180} />
      )}
      <div className="chart-actions">
        <button
          type="button"
          className="btn btn-small"
          onClick={() => downloadBlob(rowsCsv(series.rows), `${safeFileName(series.name)}.csv`)}
        >
          CSV
        </button>
      </div>
    </section>
  );
}

/** log_image: one image at a time with a slider over the logged steps (newest first shown). */
export function ImageGallery({ runId, series, version }: { runId: number; series: MetricSeries; version: number }) {
  const [picked, setPicked] = useState<number | null>(null);
  const count = series.images.length;
  // Following the newest image until the reader picks one.
  const index = Math.min(picked ?? count - 1, count - 1);
  const image = series.images[index];
  const src = `/api/runs/${runId}/artifacts/download/?path=${encodeURIComponent(image.path)}`;
  void version;
  return (
    <section className="card chart-card gallery-card" data-metric={series.name} aria-label={`Images ${series.name}`}>
      <header className="chart-head">
        <h3>{series.name}</h3>
        <span className="muted small" data-testid="gallery-position">
          image {index + 1} of {count}
        </span>
      </header>
      <a href={src} target="_blank" rel="noreferrer" className="gallery-frame">
        <img src={src} alt={`${series.name}, image ${index + 1} of ${count}`} data-testid="gallery-image" />
      </a>
      {count > 1 && (
        <label className="inline-label gallery-slider">
          <span>Step</span>
          <input
            type="range"
            min={0}
            max={count - 1}
            value={index}
            aria-label={`${series.name} step`}
            onChange={(e) => setPicked(Number(e.target.value))}
          />
        </label>
      )}
      <p className="muted small">
        {image.path} · logged {formatDateTime(new Date(image.time * 1000).toISOString())}
      </p>
    </section>
  );
}
