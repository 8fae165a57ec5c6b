import type { ComputeTarget } from "../../api/types";
import {
  argumentsPayload,
  DEFAULT_DISTRIBUTED,
  emptyForm,
  submissionForm,
  validateDistributed,
  validateRunForm,
} from "./runForm";

const target: ComputeTarget = {
  id: 1,
  name: "local",
  kind: "local",
  description: "",
  max_concurrent_runs: 4,
  max_nodes: 1,
  max_processes_per_node: 8,
  config: {},
  failure_policy: {},
  enabled: true,
  queue: "compute.local",
  running_runs: 0,
  queued_runs: 0,
  can_run: ["single"],
  warnings: [],
  isolation: { sandboxed: true, summary: "sandboxed" },
  created_at: "",
};

test("a form with no source and no script names both fields", () => {
  const errors = validateRunForm(emptyForm(), false, target);
  expect(Object.keys(errors).sort()).toEqual(["script", "snapshot"]);
});

test("a resubmission needs no new source", () => {
  const form = { ...emptyForm(), script: "train.py", resubmitOf: 3 };
  expect(validateRunForm(form, false, target)).toEqual({});
});

test("distributed fields are checked against the target's capacity, under the API's paths", () => {
  const errors = validateDistributed({ ...DEFAULT_DISTRIBUTED, type: "mpi", node_count: "2", process_count_per_node: "9" }, target);
  expect(errors).toEqual({
    "distributed.node_count": ["local has at most 1 node."],
    "distributed.process_count_per_node": ["local runs at most 8 per node."],
  });
});

test("pytorch process count must split evenly over nodes", () => {
  const bigger = { ...target, max_nodes: 4 };
  const errors = validateDistributed({ ...DEFAULT_DISTRIBUTED, type: "pytorch", node_count: "2", process_count: "3" }, bigger);
  expect(errors["distributed.process_count"]).toEqual(["Must be a multiple of the node count."]);
  expect(validateDistributed({ ...DEFAULT_DISTRIBUTED, type: "tensorflow", worker_count: "x" }, target)).toEqual({
    "distributed.worker_count": ["Enter a whole number."],
  });
});

test("duplicate tag names and a bad duration are reported", () => {
  const form = {
    ...emptyForm(),
    script: "t.py",
    tags: [
      { key: "a", value: "1" },
      { key: "a", value: "2" },
    ],
    maxDuration: "-1",
  };
  expect(validateRunForm(form, true, target)).toEqual({
    "tags.1": ["'a' is used twice."],
    max_run_duration_seconds: ["Enter a positive number, or leave empty for no limit."],
  });
});

test("the multipart body carries JSON for structured fields and dataset inputs as objects", () => {
  const form = {
    ...emptyForm(),
    script: "train.py",
    arguments: [
      { kind: "text" as const, value: "--data" },
      { kind: "dataset" as const, dataset: "mnist", version: "latest", mode: "download" as const, name: "" },
    ],
    distributed: { ...DEFAULT_DISTRIBUTED, type: "pytorch" as const, node_count: "1", process_count: "2" },
    tags: [{ key: "team", value: "vision" }],
    maxDuration: "2",
    maxDurationUnit: "hours" as const,
    preemptible: true,
  };
  const body = submissionForm(form, new File(["x"], "src.zip"));
  expect(JSON.parse(body.get("arguments") as string)).toEqual([
    "--data",
    { dataset: "mnist", version: "latest", mode: "download" },
  ]);
  expect(JSON.parse(body.get("distributed") as string)).toEqual({
    type: "pytorch",
    node_count: 1,
    process_count: 2,
    communication_backend: "gloo",
  });
  expect(JSON.parse(body.get("tags") as string)).toEqual({ team: "vision" });
  expect(body.get("max_run_duration_seconds")).toBe("7200");
  expect(body.get("preemptible")).toBe("true");
  expect(submissionForm(emptyForm(), null).get("preemptible")).toBe("false");
  expect((body.get("snapshot") as File).name).toBe("src.zip");
});

test("a model argument is sent as a model input and a missing model is reported", () => {
  const items = [
    { kind: "text" as const, value: "--model" },
    { kind: "model" as const, model: "mnist-cnn", version: "2", name: "cnn" },
    { kind: "model" as const, model: "other", version: "latest", name: "" },
  ];
  expect(argumentsPayload(items)).toEqual([
    "--model",
    { model: "mnist-cnn", version: 2, mode: "mount", name: "cnn" },
    { model: "other", version: "latest", mode: "mount" },
  ]);
  const form = { ...emptyForm(), script: "score.py", arguments: [{ kind: "model" as const, model: "", version: "latest", name: "" }] };
  expect(validateRunForm(form, true, target)["arguments.0"]).toEqual(["Choose a model."]);
});
