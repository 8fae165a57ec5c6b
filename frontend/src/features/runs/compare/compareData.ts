import type { components } from "../../../api/schema";

export type CompareRun = components["schemas"]["CompareRun"];
export type Series = components["schemas"]["Series"];

export interface DiffRow {
  key: string;
  /** One cell per run, in the runs' order; null where the run has no value. */
  values: (string | null)[];
  differs: boolean;
}

/** Rows of `key → value per run`, keys in first-seen order, each marked when the runs disagree. */
export function diffRows(maps: Record<string, string>[]): DiffRow[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  for (const map of maps)
    for (const key of Object.keys(map))
      if (!seen.has(key)) {
        seen.add(key);
        keys.push(key);
      }
  return keys.map((key) => {
    const values = maps.map((m) => (key in m ? m[key] : null));
    return { key, values, differs: new Set(values).size > 1 };
  });
}

export function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

/** Final (latest) metric values per run, as diff rows. */
export function metricRows(runs: CompareRun[]): DiffRow[] {
  return diffRows(
    runs.map((r) => Object.fromEntries(Object.entries(r.metrics).map(([name, s]) => [name, formatNumber(s.last)]))),
  );
}

/** What each run ran with, as diff rows: script, arguments, compute, distribution, environment. */
export function setupRows(runs: CompareRun[]): DiffRow[] {
  return diffRows(
    runs.map((r) => ({
      script: r.script || r.command.join(" "),
      arguments: JSON.stringify(r.arguments),
      compute: r.compute_target,
      distributed: r.distributed ? JSON.stringify(r.distributed) : "single process",
      environment: r.environment ? `${r.environment.name}:${r.environment.version}` : "none",
      snapshot: r.snapshot_sha256 ? r.snapshot_sha256.slice(0, 12) : "none",
    })),
  );
}

/** The environment specs flattened to `field → text` (packages one per key), for diff rows. */
export function environmentRows(runs: CompareRun[]): DiffRow[] {
  return diffRows(
    runs.map((r) => {
      const spec = (r.environment?.spec ?? {}) as Record<string, unknown>;
      const out: Record<string, string> = {};
      for (const [field, value] of Object.entries(spec)) {
        if (field === "pip_requirements" && Array.isArray(value)) {
          for (const req of value as string[]) {
            const name = req.split(/[<>=!~ ;[]/)[0].toLowerCase();
            out[`pip: ${name}`] = req;
          }
        } else if (field === "environment_variables" && value && typeof value === "object") {
          for (const [k, v] of Object.entries(value as Record<string, string>)) out[`env: ${k}`] = String(v);
        } else if (value !== null && value !== "" && !(Array.isArray(value) && value.length === 0)) {
          out[field] = typeof value === "string" ? value : JSON.stringify(value);
        }
      }
      return out;
    }),
  );
}

/** Metric names in chart order: those every run logged first, then the others; alphabetical within. */
export function chartedMetrics(series: Series[], runIds: number[]): { name: string; common: boolean }[] {
  const runsByName = new Map<string, Set<number>>();
  for (const s of series) {
    const set = runsByName.get(s.name) ?? new Set<number>();
    set.add(s.run);
    runsByName.set(s.name, set);
  }
  return [...runsByName.entries()]
    .map(([name, runs]) => ({ name, common: runIds.every((id) => runs.has(id)) }))
    .sort((a, b) => Number(b.common) - Number(a.common) || a.name.localeCompare(b.name));
}

/**
 * One x column for several series (uPlot's aligned data): the sorted union of their steps,
 * each series' values placed at its steps and null elsewhere (drawn as gaps bridged by spanGaps).
 */
export function alignSeries(parts: { steps: number[]; values: number[] }[]): [number[], ...(number | null)[][]] {
  const all = new Set<number>();
  for (const p of parts) for (const x of p.steps) all.add(x);
  const xs = Float64Array.from(all).sort();
  const index = new Map<number, number>();
  xs.forEach((x, i) => index.set(x, i));
  const ys = parts.map((p) => {
    const column: (number | null)[] = new Array(xs.length).fill(null);
    for (let i = 0; i < p.steps.length; i += 1) column[index.get(p.steps[i])!] = p.values[i];
    return column;
  });
  return [Array.from(xs), ...ys];
}

export interface Axis {
  key: string;
  label: string;
  kind: "number" | "category";
  /** number axes spanning two or more decades of positive values (learning rates) are logarithmic. */
  log: boolean;
  /** number: [min, max]; category: the values in order. */
  min: number;
  max: number;
  categories: string[];
}

export interface ParallelData {
  axes: Axis[];
  /** Per run, a position in [0, 1] on each axis (0 bottom), null where the run has no value. */
  lines: { run: number; positions: (number | null)[] }[];
}

function toNumber(text: string | null): number | null {
  if (text == null || text.trim() === "") return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** Parallel coordinates: one axis per parameter that varies (numbers scaled, text as categories), the metric last. */
export function parallelData(runs: CompareRun[], metric: string): ParallelData {
  const rows = diffRows(runs.map((r) => r.params)).filter((row) => row.differs);
  const columns: { key: string; label: string; values: (string | null)[] }[] = rows.map((row) => ({
    key: `param:${row.key}`,
    label: row.key,
    values: row.values,
  }));
  columns.push({
    key: `metric:${metric}`,
    label: metric,
    values: runs.map((r) => (r.metrics[metric] ? String(r.metrics[metric].last) : null)),
  });
  const axes: Axis[] = [];
  const positions: (number | null)[][] = runs.map(() => []);
  for (const column of columns) {
    const present = column.values.filter((v): v is string => v !== null);
    const numeric = present.length > 0 && present.every((v) => toNumber(v) !== null);
    if (numeric) {
      const nums = present.map((v) => toNumber(v)!);
      const min = Math.min(...nums);
      const max = Math.max(...nums);
      const log = min > 0 && max / min >= 100;
      const scale = (n: number) => (log ? Math.log10(n) : n);
      axes.push({ key: column.key, label: column.label, kind: "number", log, min, max, categories: [] });
      column.values.forEach((v, i) => {
        const n = toNumber(v);
        positions[i].push(n === null ? null : max === min ? 0.5 : (scale(n) - scale(min)) / (scale(max) - scale(min)));
      });
    } else {
      const categories = [...new Set(present)].sort();
      axes.push({ key: column.key, label: column.label, kind: "category", log: false, min: 0, max: 0, categories });
      column.values.forEach((v, i) => {
        const at = v === null ? -1 : categories.indexOf(v);
        positions[i].push(at < 0 ? null : categories.length === 1 ? 0.5 : at / (categories.length - 1));
      });
    }
  }
  return { axes, lines: runs.map((r, i) => ({ run: r.id, positions: positions[i] })) };
}

/** A distinct colour per run, the same in every chart, table and the parallel plot. */
export const RUN_COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d", "#4f46e5", "#a16207"];

export function runColor(index: number): string {
  return RUN_COLORS[index % RUN_COLORS.length];
}

export function runLabel(run: Pick<CompareRun, "id" | "display_name" | "script">): string {
  return `#${run.id} ${run.display_name || run.script || ""}`.trim();
}
