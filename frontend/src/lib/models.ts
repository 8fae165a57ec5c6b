import type { MetricSeries, ModelFile } from "../api/types";

/**
 * What a run's artifacts can be registered from: every file, and every folder that holds
 * files (Azure's model_path is either). Folders come first, shortest first, so
 * "outputs/model" is offered before the files in it.
 */
export function modelPathChoices(paths: readonly string[]): string[] {
  const folders = new Set<string>();
  for (const path of paths) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i += 1) folders.add(parts.slice(0, i).join("/"));
  }
  const byDepth = (a: string, b: string) => a.split("/").length - b.split("/").length || a.localeCompare(b);
  return [...[...folders].sort(byDepth).map((f) => `${f}/`), ...[...paths].sort()];
}

/** A model name from a path: its last segment without the extension, as a name Azure accepts. */
export function suggestedModelName(path: string): string {
  const last = path.replace(/\/+$/, "").split("/").pop() ?? "";
  const stem = last.includes(".") ? last.slice(0, last.lastIndexOf(".")) : last;
  return stem.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 255);
}

export interface ChartSeries {
  name: string;
  xs: number[];
  ys: number[];
  byStep: boolean;
}

/**
 * The run's scalar series as they were when the version was registered: points logged
 * after ``until`` are left out. x is the step when every point has one, else the index.
 */
export function seriesUntil(series: MetricSeries, until: string, names?: readonly string[]): ChartSeries[] {
  const limit = Date.parse(until);
  const out: ChartSeries[] = [];
  for (const name of Object.keys(series).sort()) {
    if (names && !names.includes(name)) continue;
    const points = series[name].filter((p) => p.kind === "scalar" && p.value != null && Date.parse(p.at) <= limit);
    if (points.length < 2) continue;
    const byStep = points.every((p) => p.step != null);
    out.push({
      name,
      xs: points.map((p, i) => (byStep ? Number(p.step) : i)),
      ys: points.map((p) => Number(p.value)),
      byStep,
    });
  }
  return out;
}

/** Files worth a text preview: small enough, and not obviously binary by name. */
export function previewable(file: ModelFile): boolean {
  if (file.size > 2 * 1024 * 1024) return false;
  return !/\.(bin|pt|pth|pkl|pickle|onnx|h5|hdf5|npy|npz|safetensors|ckpt|zip|tar|gz|so|png|jpe?g)$/i.test(file.path);
}

export function formatMetric(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/0+$/, "");
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
