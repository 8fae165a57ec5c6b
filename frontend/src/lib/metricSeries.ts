import type { MetricPoint } from "../api/types";

export interface MetricSeries {
  name: string;
  /** Steps as logged; null when the script gave none (the chart then uses the point's index). */
  steps: (number | null)[];
  /** Seconds since the epoch. */
  times: number[];
  values: number[];
  /** Points that are not scalars (lists, rows, images, text). */
  otherKinds: number;
  /** The last string logged with run.log(name, "text"), shown instead of a chart. */
  lastText: string | null;
  /** log_list values, one entry per call. */
  lists: Cell[][];
  /** log_row / log_table rows in logged order. */
  rows: Record<string, Cell>[];
  /** log_image files (run artifact paths) in logged order. */
  images: LoggedImage[];
}

/** One table or list cell as the SDK sends it (as_cell: numbers, strings, booleans, null). */
export type Cell = number | string | boolean | null;

export interface LoggedImage {
  path: string;
  /** Seconds since the epoch. */
  time: number;
}

/**
 * A run's metrics by name, fed by the REST snapshot and live websocket batches.
 *
 * The two overlap while the page loads (a point can be both stored before the GET and
 * published after the socket joined), so each point is keyed by (time, step, value)
 * and a repeat is dropped.
 */
export class MetricStore {
  private series = new Map<string, MetricSeries>();
  private keys = new Set<string>();
  version = 0;

  add(name: string, points: readonly MetricPoint[]): number {
    let added = 0;
    for (const point of points) {
      const key = `${name}|${point.at}|${point.step}|${point.value}`;
      if (this.keys.has(key)) continue;
      this.keys.add(key);
      const series = this.ensure(name);
      if (point.kind !== "scalar" || point.value == null) {
        series.otherKinds += 1;
        collectPayload(series, point);
      } else {
        series.steps.push(point.step);
        series.times.push(Date.parse(point.at) / 1000);
        series.values.push(point.value);
      }
      added += 1;
    }
    if (added) this.version += 1;
    return added;
  }

  addGrouped(grouped: Record<string, MetricPoint[]>): void {
    for (const [name, points] of Object.entries(grouped)) this.add(name, points);
  }

  addLive(points: readonly MetricPoint[]): void {
    const byName = new Map<string, MetricPoint[]>();
    for (const point of points) {
      if (!point.name) continue;
      const list = byName.get(point.name) ?? [];
      list.push(point);
      byName.set(point.name, list);
    }
    byName.forEach((list, name) => this.add(name, list));
  }

  names(): string[] {
    return [...this.series.keys()].sort();
  }

  get(name: string): MetricSeries | undefined {
    return this.series.get(name);
  }

  private ensure(name: string): MetricSeries {
    let series = this.series.get(name);
    if (!series) {
      series = { name, steps: [], times: [], values: [], otherKinds: 0, lastText: null, lists: [], rows: [], images: [] };
      this.series.set(name, series);
    }
    return series;
  }
}

function collectPayload(series: MetricSeries, point: MetricPoint): void {
  const payload: unknown = point.payload;
  if (point.kind === "text" && typeof payload === "string") series.lastText = payload;
  else if (point.kind === "list" && Array.isArray(payload)) series.lists.push(payload as Cell[]);
  else if (point.kind === "row" && payload && typeof payload === "object") series.rows.push(payload as Record<string, Cell>);
  else if (point.kind === "image" && payload && typeof payload === "object") {
    const path = (payload as { path?: unknown }).path;
    if (typeof path === "string") series.images.push({ path, time: Date.parse(point.at) / 1000 });
  }
}

export type XAxis = "step" | "time";

/** Columns for a chart: x ascending (uPlot needs that), y aligned with it. */
export function chartColumns(series: MetricSeries, axis: XAxis): [number[], number[]] {
  const xs =
    axis === "time" ? series.times.slice() : series.steps.map((step, index) => (step == null ? index : step));
  const ys = series.values.slice();
  let sorted = true;
  for (let i = 1; i < xs.length; i += 1) {
    if (xs[i] < xs[i - 1]) {
      sorted = false;
      break;
    }
  }
  if (sorted) return [xs, ys];
  const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
  return [order.map((i) => xs[i]), order.map((i) => ys[i])];
}
