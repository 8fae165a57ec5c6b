import type { MetricPoint } from "../api/types";
import { MetricStore, type Cell } from "./metricSeries";
import {
  chartGroups,
  forLogScale,
  joinSeries,
  numericColumns,
  rowsCsv,
  shapeOf,
  smooth,
  sortRows,
  tableColumns,
  tickLabels,
  toCsv,
} from "./metricViews";

const at = "2026-01-01T00:00:00Z";
const raw = (kind: string, payload: unknown, value: number | null = null): MetricPoint =>
  ({ kind, value, payload, step: null, at }) as MetricPoint;

test("train/val pairs with the same suffix share a chart; other names keep their own", () => {
  const groups = chartGroups(["lr", "train_loss", "val/acc", "train/acc", "val_loss", "test_loss", "train-only"]);
  expect(groups).toEqual([
    { title: "lr", names: ["lr"] },
    { title: "loss", names: ["train_loss", "val_loss", "test_loss"] },
    { title: "acc", names: ["train/acc", "val/acc"] },
    { title: "train-only", names: ["train-only"] },
  ]);
});

test("different separators do not pair", () => {
  expect(chartGroups(["train_loss", "val/loss"]).map((g) => g.names)).toEqual([["train_loss"], ["val/loss"]]);
});

test("smoothing is a debiased moving average that leaves gaps alone", () => {
  expect(smooth([1, 2, 3], 0)).toEqual([1, 2, 3]);
  const out = smooth([10, null, 10, 20], 0.5);
  expect(out[0]).toBeCloseTo(10); // debiased: not pulled to 0
  expect(out[1]).toBeNull();
  expect(out[2]).toBeCloseTo(10);
  expect(out[3]).toBeGreaterThan(10);
  expect(out[3]).toBeLessThan(20);
});

test("log scale drops what it cannot draw", () => {
  expect(forLogScale([1, 0, -2, null, 0.5])).toEqual([1, null, null, null, 0.5]);
});

test("series join on the union of their x values", () => {
  expect(
    joinSeries([
      [
        [0, 1, 2],
        [1, 2, 3],
      ],
      [
        [1, 3],
        [5, 6],
      ],
    ]),
  ).toEqual([
    [0, 1, 2, 3],
    [1, 2, 3, null],
    [null, 5, null, 6],
  ]);
});

test("each kind of metric gets its own shape; one value is a number, not a chart", () => {
  const store = new MetricStore();
  store.add("one", [raw("scalar", null, 0.93)]);
  store.add("many", [raw("scalar", null, 1), { ...raw("scalar", null, 2), at: "2026-01-01T00:00:01Z" }]);
  store.add("kernel", [raw("text", "rbf")]);
  store.add("probs", [raw("list", [0.1, 0.9])]);
  store.add("roc", [raw("row", { fpr: 0, tpr: 0 }), raw("row", { fpr: 1, tpr: 1 })]);
  store.add("samples", [raw("image", { path: "images/samples/1.png" })]);
  expect(["one", "many", "kernel", "probs", "roc", "samples"].map((n) => shapeOf(store.get(n)!))).toEqual([
    "number",
    "chart",
    "text",
    "list",
    "table",
    "images",
  ]);
  expect(store.get("probs")!.lists).toEqual([[0.1, 0.9]]);
  expect(store.get("samples")!.images[0].path).toBe("images/samples/1.png");
});

test("table columns keep first-seen order and numeric ones are charted", () => {
  const rows: Record<string, Cell>[] = [{ epoch: 1, note: "a" }, { epoch: 2, acc: 0.5, note: null }];
  expect(tableColumns(rows)).toEqual(["epoch", "note", "acc"]);
  expect(numericColumns(rows)).toEqual(["epoch", "acc"]);
});

test("sorting puts empty cells last and compares numbers as numbers", () => {
  const rows = [{ v: 10 }, { v: null }, { v: 9 }, { v: 100 }];
  expect(sortRows(rows, "v", "asc").map((r) => r.v)).toEqual([9, 10, 100, null]);
  expect(sortRows(rows, "v", "desc").map((r) => r.v)).toEqual([100, 10, 9, null]);
  expect(sortRows([{ n: "run10" }, { n: "run9" }], "n", "asc").map((r) => r.n)).toEqual(["run9", "run10"]);
});

test("CSV quotes what needs quoting", () => {
  expect(toCsv(["a", "b"], [[1, 'say "hi", ok'], [null, "x"]])).toBe('a,b\r\n1,"say ""hi"", ok"\r\n,x\r\n');
  expect(rowsCsv([{ a: 1 }, { b: 2 }])).toBe("a,b\r\n1,\r\n,2\r\n");
});

test("tick labels keep the digits that differ", () => {
  const ticks = [0.50001, 0.50002, 0.50003];
  const labels = tickLabels(ticks, 0.00001);
  expect(labels).toEqual(["0.50001", "0.50002", "0.50003"]);
  expect(new Set(labels).size).toBe(3);
  expect(tickLabels([0, 0.5, 1], 0.5)).toEqual(["0.0", "0.5", "1.0"]);
  expect(tickLabels([0, 50, 100], 50)).toEqual(["0", "50", "100"]);
  expect(tickLabels([2e6, 4e6], 2e6)).toEqual(["2e+6", "4e+6"]);
});
