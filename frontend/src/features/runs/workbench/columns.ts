import type { RunSummary } from "../../../api/types";

/** Where a workbench column's value comes from; the prefix of its id (`metrics.acc`). */
export type ColumnSource = "metrics" | "metrics_min" | "metrics_max" | "params" | "tags" | "properties";

export const COLUMN_SOURCES: readonly ColumnSource[] = ["metrics", "metrics_min", "metrics_max", "params", "tags", "properties"];

const SOURCE_LABEL: Record<ColumnSource, string> = {
  metrics: "",
  metrics_min: "min ",
  metrics_max: "max ",
  params: "",
  tags: "tag ",
  properties: "prop ",
};

export interface Column {
  /** As the server takes it in ?ordering= and saves it: `metrics.acc`, `params.lr`. */
  id: string;
  source: ColumnSource;
  name: string;
  label: string;
  numeric: boolean;
}

export function parseColumn(id: string): Column | null {
  const dot = id.indexOf(".");
  if (dot < 0) return null;
  const source = id.slice(0, dot) as ColumnSource;
  const name = id.slice(dot + 1);
  if (!COLUMN_SOURCES.includes(source) || !name) return null;
  return { id, source, name, label: SOURCE_LABEL[source] + name, numeric: source.startsWith("metrics") };
}

export function parseColumns(ids: readonly string[]): Column[] {
  return ids.map(parseColumn).filter((c): c is Column => c !== null);
}

/** The cell's value for a run: a number for metrics, text for the rest, null when absent. */
export function cellValue(run: Pick<RunSummary, "metrics" | "params" | "tags" | "properties">, column: Column): number | string | null {
  switch (column.source) {
    case "metrics":
      return run.metrics[column.name]?.last ?? null;
    case "metrics_min":
      return run.metrics[column.name]?.min ?? null;
    case "metrics_max":
      return run.metrics[column.name]?.max ?? null;
    case "params":
      return run.params[column.name] ?? null;
    case "tags":
      return run.tags[column.name] ?? null;
    case "properties":
      return run.properties[column.name] ?? null;
  }
}

/** Metrics shown with 4 significant digits (0.9512, 1234, 1.2e-5), text as is. */
export function formatCell(value: number | string | null): string {
  if (value == null) return "–";
  if (typeof value === "string") return value;
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

/** Clicking a column's header: descending first (best metric on top), then ascending, then back to the default. */
export function nextOrdering(current: string, columnId: string): string {
  if (current === `-${columnId}`) return columnId;
  if (current === columnId) return "";
  return `-${columnId}`;
}

export function sortDirection(current: string, columnId: string): "descending" | "ascending" | "none" {
  if (current === `-${columnId}`) return "descending";
  if (current === columnId) return "ascending";
  return "none";
}

export interface ColumnChoices {
  metrics: string[];
  params: string[];
  tags: string[];
  properties: string[];
}

/** Every column the chooser can offer, grouped: metrics (latest, min, max), parameters, tags, properties. */
export function availableColumns(keys: ColumnChoices): { group: string; columns: Column[] }[] {
  const make = (source: ColumnSource, names: string[]) => parseColumns(names.map((n) => `${source}.${n}`));
  return [
    { group: "Metrics (latest)", columns: make("metrics", keys.metrics) },
    { group: "Metrics (min)", columns: make("metrics_min", keys.metrics) },
    { group: "Metrics (max)", columns: make("metrics_max", keys.metrics) },
    { group: "Parameters", columns: make("params", keys.params) },
    { group: "Tags", columns: make("tags", keys.tags) },
    { group: "Properties", columns: make("properties", keys.properties) },
  ].filter((g) => g.columns.length > 0);
}

/** A filter box's text (`acc>0.9`, `max(acc)>=0.95`, `lr<0.01`) as a query parameter, or an error. */
export function conditionParam(text: string): { param: "metric" | "metric_min" | "metric_max" | "param"; value: string } | { error: string } {
  const trimmed = text.trim();
  const fn = /^(min|max|param)\((.+)\)\s*(>=|<=|!=|>|<|=)(.*)$/.exec(trimmed);
  if (fn) {
    const param = fn[1] === "param" ? "param" : fn[1] === "min" ? "metric_min" : "metric_max";
    return { param, value: `${fn[2].trim()}${fn[3]}${fn[4].trim()}` };
  }
  const plain = /^(.+?)\s*(>=|<=|!=|>|<|=)(.*)$/.exec(trimmed);
  if (!plain) return { error: "Write a condition like acc>0.9, max(acc)>=0.95 or param(lr)<0.01." };
  return { param: "metric", value: `${plain[1].trim()}${plain[2]}${plain[3].trim()}` };
}
