import { describe, expect, it } from "vitest";
import { alignSeries, chartedMetrics, diffRows, environmentRows, parallelData, type CompareRun } from "./compareData";
import { lineDiff, withContext } from "./textDiff";

function run(id: number, params: Record<string, string>, acc: number | null, pip: string[] = []): CompareRun {
  return {
    id,
    display_name: `run ${id}`,
    status: "Completed",
    experiment: "e",
    script: "train.py",
    command: [],
    arguments: [],
    params,
    tags: {},
    properties: {},
    metrics: acc === null ? {} : { acc: { last: acc, step: 1, min: acc, max: acc, count: 1 } },
    compute_target: "local",
    distributed: null,
    environment: { name: "env", version: 1, spec: { python_version: "3.11", pip_requirements: pip } },
    snapshot_sha256: "",
    created_at: "2026-01-01T00:00:00Z",
    duration_seconds: 1,
    parent: null,
  };
}

describe("compare transforms", () => {
  it("diffs key/value maps and marks the rows that differ", () => {
    const rows = diffRows([{ lr: "0.1", opt: "adam" }, { lr: "0.2", opt: "adam", amp: "true" }]);
    expect(rows).toEqual([
      { key: "lr", values: ["0.1", "0.2"], differs: true },
      { key: "opt", values: ["adam", "adam"], differs: false },
      { key: "amp", values: [null, "true"], differs: true },
    ]);
  });

  it("diffs environments package by package", () => {
    const rows = environmentRows([run(1, {}, 1, ["numpy==1.26", "six"]), run(2, {}, 1, ["numpy==2.0", "six"])]);
    expect(rows.find((r) => r.key === "pip: numpy")).toEqual({ key: "pip: numpy", values: ["numpy==1.26", "numpy==2.0"], differs: true });
    expect(rows.find((r) => r.key === "pip: six")?.differs).toBe(false);
    expect(rows.find((r) => r.key === "python_version")?.differs).toBe(false);
  });

  it("aligns series on the union of their steps with gaps as null", () => {
    const [xs, a, b] = alignSeries([
      { steps: [0, 2, 4], values: [1, 2, 3] },
      { steps: [1, 2, 10], values: [9, 8, 7] },
    ]);
    expect(xs).toEqual([0, 1, 2, 4, 10]);
    expect(a).toEqual([1, null, 2, 3, null]);
    expect(b).toEqual([null, 9, 8, null, 7]);
  });

  it("charts metrics every run logged first", () => {
    const series = [
      { run: 1, name: "loss", steps: [], values: [], total: 0 },
      { run: 2, name: "loss", steps: [], values: [], total: 0 },
      { run: 1, name: "acc", steps: [], values: [], total: 0 },
    ];
    expect(chartedMetrics(series, [1, 2])).toEqual([
      { name: "loss", common: true },
      { name: "acc", common: false },
    ]);
  });

  it("places runs on parallel axes: varying params, numbers scaled, text as categories, the metric last", () => {
    const data = parallelData(
      [run(1, { lr: "0.1", opt: "adam", same: "x" }, 0.5), run(2, { lr: "0.3", opt: "sgd", same: "x" }, 0.9), run(3, { lr: "0.2", same: "x" }, null)],
      "acc",
    );
    expect(data.axes.map((a) => [a.label, a.kind])).toEqual([
      ["lr", "number"],
      ["opt", "category"],
      ["acc", "number"],
    ]);
    expect(data.lines[0].positions).toEqual([0, 0, 0]);
    expect(data.lines[1].positions).toEqual([1, 1, 1]);
    expect(data.lines[2].positions[0]).toBeCloseTo(0.5);
    expect(data.lines[2].positions.slice(1)).toEqual([null, null]);
    const decades = parallelData([run(1, { lr: "0.1" }, 0.5), run(2, { lr: "0.001" }, 0.9), run(3, { lr: "0.01" }, 0.7)], "acc");
    expect(decades.axes[0].log).toBe(true);
    expect(decades.lines[2].positions[0]).toBeCloseTo(0.5); // 0.01 halfway between 0.001 and 0.1 on a log axis
  });

  it("diffs text line by line and keeps context around changes", () => {
    const diff = lineDiff("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n");
    expect(diff).toEqual([
      { op: "same", text: "a" },
      { op: "del", text: "b" },
      { op: "add", text: "B" },
      { op: "same", text: "c" },
      { op: "same", text: "d" },
      { op: "add", text: "e" },
    ]);
    const long = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const changed = [...long];
    changed[10] = "changed";
    const shown = withContext(lineDiff(long.join("\n"), changed.join("\n")), 1);
    expect(shown).toEqual([null, { op: "same", text: "line 9" }, { op: "del", text: "line 10" }, { op: "add", text: "changed" }, { op: "same", text: "line 11" }, null]);
  });
});
