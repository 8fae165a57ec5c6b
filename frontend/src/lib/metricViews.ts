/**
 * Pure transforms behind the metrics tab: which scalar metrics share a chart (train/val
 * pairs), smoothing, joining several series on one x axis, tables of logged rows, and
 * CSV export. Kept apart from the components so vitest can check them without a canvas.
 */
import type { Cell, MetricSeries } from "./metricSeries";

/** Prefixes that name a split of the same quantity: `train_loss`, `val/loss`, `test-acc`. */
const SPLIT_PREFIX = /^(train|training|val|valid|validation|eval|evaluation|test|dev)([_/.-])(.+)$/i;

export interface ChartGroup {
  /** What the chart is titled: the shared suffix for a pair, else the metric's name. */
  title: string;
  /** Metric names drawn on this chart, train-like first. */
  names: string[];
}

const SPLIT_ORDER = ["train", "training", "dev", "val", "valid", "validation", "eval", "evaluation", "test"];

/**
 * Groups scalar metrics that differ only in their split prefix (train_loss + val_loss,
 * train/loss + val/loss) onto one chart; every other metric keeps a chart of its own.
 * Different separators never pair (train_loss is not train/loss's sibling) because the
 * key keeps the separator.
 */
export function chartGroups(names: readonly string[]): ChartGroup[] {
  const bySuffix = new Map<string, { split: string; name: string }[]>();
  for (const name of names) {
    const match = SPLIT_PREFIX.exec(name);
    if (!match) continue;
    const key = `${match[2]}${match[3]}`;
    const list = bySuffix.get(key) ?? [];
    list.push({ split: match[1].toLowerCase(), name });
    bySuffix.set(key, list);
  }
  const grouped = new Map<string, ChartGroup>();
  for (const [key, members] of bySuffix) {
    if (members.length < 2) continue;
    members.sort((a, b) => SPLIT_ORDER.indexOf(a.split) - SPLIT_ORDER.indexOf(b.split));
    const group = { title: key.slice(1), names: members.map((m) => m.name) };
    for (const m of members) grouped.set(m.name, group);
  }
  const out: ChartGroup[] = [];
  const emitted = new Set<ChartGroup>();
  for (const name of names) {
    const group = grouped.get(name);
    if (!group) out.push({ title: name, names: [name] });
    else if (!emitted.has(group)) {
      emitted.add(group);
      out.push(group);
    }
  }
  return out;
}

/**
 * Exponential moving average with TensorBoard's debiasing, so the first points are not
 * pulled towards zero. `weight` 0 returns the values unchanged; nulls stay null and do
 * not reset the average.
 */
export function smooth(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values.slice();
  const w = Math.min(weight, 0.999);
  let last = 0;
  let count = 0;
  return values.map((value) => {
    if (value == null || !Number.isFinite(value)) return value;
    last = last * w + (1 - w) * value;
    count += 1;
    return last / (1 - w ** count);
  });
}

/** On a log axis zero and negative values cannot be drawn: they become gaps. */
export function forLogScale(values: readonly (number | null)[]): (number | null)[] {
  return values.map((v) => (v != null && v > 0 ? v : null));
}

/**
 * Several (xs, ys) series on one ascending x column, as uPlot wants: xs are the union,
 * each series has null where it logged no point at that x.
 */
export function joinSeries(series: readonly [number[], number[]][]): [number[], ...(number | null)[][]] {
  const xs = [...new Set(series.flatMap(([x]) => x))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map(([sx, sy]) => {
    const column: (number | null)[] = new Array(xs.length).fill(null);
    sx.forEach((x, i) => {
      column[index.get(x)!] = sy[i];
    });
    return column;
  });
  return [xs, ...columns];
}

/** What a metric is best shown as. */
export type MetricShape = "chart" | "number" | "text" | "list" | "table" | "images" | "empty";

export function shapeOf(series: MetricSeries): MetricShape {
  if (series.images.length) return "images";
  if (series.rows.length) return "table";
  if (series.lists.length) return "list";
  if (series.values.length > 1) return "chart";
  if (series.values.length === 1) return "number";
  if (series.lastText != null) return "text";
  return "empty";
}

/** Column names of logged rows in first-seen order (rows may add columns later). */
export function tableColumns(rows: readonly Record<string, Cell>[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

/** Columns whose every present cell is a finite number: those can be charted. */
export function numericColumns(rows: readonly Record<string, Cell>[]): string[] {
  return tableColumns(rows).filter((column) => {
    let any = false;
    for (const row of rows) {
      const cell = row[column];
      if (cell == null) continue;
      if (typeof cell !== "number" || !Number.isFinite(cell)) return false;
      any = true;
    }
    return any;
  });
}

export type SortDirection = "asc" | "desc";

/** Rows sorted by one column: numbers numerically, text naturally, empty cells last either way. */
export function sortRows<T extends Record<string, Cell>>(rows: readonly T[], column: string, direction: SortDirection): T[] {
  const sign = direction === "asc" ? 1 : -1;
  return rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => {
      const x = a.row[column];
      const y = b.row[column];
      if (x == null && y == null) return a.index - b.index;
      if (x == null) return 1;
      if (y == null) return -1;
      const order =
        typeof x === "number" && typeof y === "number"
          ? x - y
          : String(x).localeCompare(String(y), undefined, { numeric: true });
      return order * sign || a.index - b.index;
    })
    .map(({ row }) => row);
}

function csvCell(cell: Cell | undefined): string {
  if (cell == null) return "";
  const text = String(cell);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 CSV: a header line, then one line per row. */
export function toCsv(header: readonly string[], rows: readonly (readonly (Cell | undefined)[])[]): string {
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/** A scalar metric as CSV rows of step, time (ISO) and value. */
export function seriesCsv(series: MetricSeries): string {
  return toCsv(
    ["step", "time", "value"],
    series.values.map((value, i) => [series.steps[i], new Date(series.times[i] * 1000).toISOString(), value]),
  );
}

export function rowsCsv(rows: readonly Record<string, Cell>[]): string {
  const columns = tableColumns(rows);
  return toCsv(columns, rows.map((row) => columns.map((c) => row[c])));
}

/** Starts a browser download of text or a blob under `filename`. */
export function downloadBlob(content: Blob | string, filename: string, type = "text/csv"): void {
  const blob = typeof content === "string" ? new Blob([content], { type }) : content;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A file name from a metric name (train/loss → train_loss). */
export function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_") || "metric";
}

/**
 * Axis labels with as many decimals as the tick spacing needs, so a narrow range
 * (0.50001 … 0.50004) never shows one label several times; very large or small values
 * are written with an exponent.
 */
export function tickLabels(ticks: readonly number[], increment: number): string[] {
  const step = Math.abs(increment) || Math.abs((ticks[1] ?? 0) - (ticks[0] ?? 0)) || 1;
  const biggest = Math.max(...ticks.map((t) => Math.abs(t)), 0);
  if (biggest >= 1e6 || (biggest > 0 && biggest < 1e-4)) {
    const digits = Math.max(0, Math.floor(Math.log10(biggest)) - Math.floor(Math.log10(step) + 1e-9));
    return ticks.map((t) => (t === 0 ? "0" : t.toExponential(Math.min(digits, 10))));
  }
  const decimals = Math.min(10, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  return ticks.map((t) => t.toFixed(decimals));
}
