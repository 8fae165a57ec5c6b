import { describe, expect, it } from "vitest";
import { availableColumns, cellValue, conditionParam, formatCell, nextOrdering, parseColumn, parseColumns } from "./columns";

const run = {
  metrics: { acc: { last: 0.91, step: 9, min: 0.2, max: 0.95, count: 10 } },
  params: { lr: "0.01" },
  tags: { stage: "prod" },
  properties: { owner: "ml" },
};

describe("workbench columns", () => {
  it("parses column ids, keeping dots in names", () => {
    expect(parseColumn("metrics.train.loss")).toMatchObject({ source: "metrics", name: "train.loss", numeric: true });
    expect(parseColumn("metrics_max.acc")?.label).toBe("max acc");
    expect(parseColumn("status")).toBeNull();
    expect(parseColumn("bogus.x")).toBeNull();
    expect(parseColumns(["params.lr", "nope", "tags.stage"]).map((c) => c.id)).toEqual(["params.lr", "tags.stage"]);
  });

  it("extracts each column's cell from a run row", () => {
    const values = ["metrics.acc", "metrics_min.acc", "metrics_max.acc", "params.lr", "tags.stage", "properties.owner", "metrics.loss"].map(
      (id) => cellValue(run, parseColumn(id)!),
    );
    expect(values).toEqual([0.91, 0.2, 0.95, "0.01", "prod", "ml", null]);
  });

  it("formats numbers compactly", () => {
    expect([formatCell(0.912345), formatCell(3), formatCell(0.00001234), formatCell(null), formatCell("adam")]).toEqual([
      "0.9123",
      "3",
      "1.23e-5",
      "–",
      "adam",
    ]);
  });

  it("cycles the ordering descending → ascending → default", () => {
    expect(nextOrdering("", "metrics.acc")).toBe("-metrics.acc");
    expect(nextOrdering("-metrics.acc", "metrics.acc")).toBe("metrics.acc");
    expect(nextOrdering("metrics.acc", "metrics.acc")).toBe("");
    expect(nextOrdering("-params.lr", "metrics.acc")).toBe("-metrics.acc");
  });

  it("offers every metric three ways and skips empty groups", () => {
    const groups = availableColumns({ metrics: ["acc"], params: ["lr"], tags: [], properties: [] });
    expect(groups.map((g) => g.group)).toEqual(["Metrics (latest)", "Metrics (min)", "Metrics (max)", "Parameters"]);
    expect(groups[2].columns[0].id).toBe("metrics_max.acc");
  });

  it("turns filter text into the server's condition parameters", () => {
    expect(conditionParam("acc > 0.9")).toEqual({ param: "metric", value: "acc>0.9" });
    expect(conditionParam("max(acc)>=0.95")).toEqual({ param: "metric_max", value: "acc>=0.95" });
    expect(conditionParam("min(loss)<0.1")).toEqual({ param: "metric_min", value: "loss<0.1" });
    expect(conditionParam("param(opt)=adam")).toEqual({ param: "param", value: "opt=adam" });
    expect(conditionParam("acc")).toHaveProperty("error");
  });
});
