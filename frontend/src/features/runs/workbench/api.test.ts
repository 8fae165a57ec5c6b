import { runsPath, type WorkbenchQuery } from "./api";

const none: WorkbenchQuery = {
  status: [],
  experiment: "",
  compute_target: "",
  submitted_by: "",
  environment: "",
  tag: "",
  property: "",
  parent: "",
  cause: "",
  q: "",
  ordering: "",
  conditions: [],
  archived: false,
};

test("an empty query asks for the first page only", () => {
  expect(runsPath(none)).toBe("/api/runs/?limit=50");
});

test("the cause, parent and metric conditions reach the server's filters", () => {
  const path = runsPath({
    ...none,
    cause: "oom",
    parent: "12",
    conditions: [{ param: "metric", value: "acc>0.9" }],
  });
  const params = new URL(path, "http://x").searchParams;
  expect(params.get("cause")).toBe("oom");
  expect(params.get("parent")).toBe("12");
  expect(params.getAll("metric")).toEqual(["acc>0.9"]);
});
