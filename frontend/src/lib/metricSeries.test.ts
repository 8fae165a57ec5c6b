import type { MetricPoint } from "../api/types";
import { chartColumns, MetricStore } from "./metricSeries";

const point = (step: number | null, value: number, at = `2026-01-01T00:00:0${step ?? 0}Z`): MetricPoint => ({
  kind: "scalar",
  value,
  payload: null,
  step,
  at,
});

test("drops points seen both in the REST snapshot and live", () => {
  const store = new MetricStore();
  store.addGrouped({ loss: [point(0, 1), point(1, 0.5)] });
  store.addLive([{ ...point(1, 0.5), name: "loss" }, { ...point(2, 0.3), name: "loss" }]);
  expect(store.get("loss")!.values).toEqual([1, 0.5, 0.3]);
});

test("keeps non-scalar points apart from the scalar values", () => {
  const store = new MetricStore();
  store.add("table", [{ kind: "row", value: null, payload: { a: 1 }, step: null, at: "2026-01-01T00:00:00Z" }]);
  expect(store.get("table")!.otherKinds).toBe(1);
  expect(store.get("table")!.values).toEqual([]);
  expect(store.get("table")!.rows).toEqual([{ a: 1 }]);
});

test("keeps the last text value of a string metric", () => {
  const store = new MetricStore();
  const text = (payload: string, at: string): MetricPoint => ({ kind: "text", value: null, payload, step: null, at });
  store.add("kernel", [text("rbf", "2026-01-01T00:00:00Z"), text("linear", "2026-01-01T00:00:01Z")]);
  expect(store.get("kernel")!.lastText).toBe("linear");
  expect(store.get("kernel")!.values).toEqual([]);
});

test("chart columns use the index when no step was logged and sort by x", () => {
  const store = new MetricStore();
  store.add("acc", [point(null, 0.1, "2026-01-01T00:00:01Z"), point(null, 0.2, "2026-01-01T00:00:02Z")]);
  expect(chartColumns(store.get("acc")!, "step")).toEqual([[0, 1], [0.1, 0.2]]);
  store.add("lr", [point(5, 1), point(2, 2)]);
  expect(chartColumns(store.get("lr")!, "step")).toEqual([[2, 5], [2, 1]]);
});
