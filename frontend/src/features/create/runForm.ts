import type { ComputeTarget, DatasetArgument, ModelArgument, RunArgument, RunDetail } from "../../api/types";
import type { FieldErrors } from "../../lib/fieldErrors";

export type ArgumentItem =
  | { kind: "text"; value: string }
  | { kind: "dataset"; dataset: string; version: string; mode: "mount" | "download"; name: string }
  | { kind: "model"; model: string; version: string; name: string };

export type DistributedType = "none" | "mpi" | "pytorch" | "tensorflow";

export interface DistributedFields {
  type: DistributedType;
  node_count: string;
  process_count_per_node: string;
  process_count: string;
  communication_backend: string;
  worker_count: string;
  parameter_server_count: string;
}

export interface TagItem {
  key: string;
  value: string;
}

export interface RunForm {
  experiment: string;
  displayName: string;
  script: string;
  arguments: ArgumentItem[];
  environment: string;
  /** "" means the newest version at submission time. */
  environmentVersion: string;
  computeTarget: string;
  distributed: DistributedFields;
  tags: TagItem[];
  maxDuration: string;
  maxDurationUnit: "minutes" | "hours";
  /** The scheduler may stop the run for a higher-priority or under-share run; it resumes. */
  preemptible: boolean;
  resubmitOf: number | null;
}

export const DEFAULT_DISTRIBUTED: DistributedFields = {
  type: "none",
  node_count: "1",
  process_count_per_node: "2",
  process_count: "2",
  communication_backend: "gloo",
  worker_count: "2",
  parameter_server_count: "1",
};

export function emptyForm(): RunForm {
  return {
    experiment: "default",
    displayName: "",
    script: "",
    arguments: [],
    environment: "",
    environmentVersion: "",
    computeTarget: "local",
    distributed: { ...DEFAULT_DISTRIBUTED },
    tags: [],
    maxDuration: "",
    maxDurationUnit: "minutes",
    preemptible: false,
    resubmitOf: null,
  };
}

/** The form as it was for `run`, so Resubmit only needs the changes. */
export function formFromRun(run: RunDetail): RunForm {
  const d = run.distributed;
  const distributed: DistributedFields = { ...DEFAULT_DISTRIBUTED };
  if (d) {
    distributed.type = d.type;
    for (const [key, value] of Object.entries(d)) {
      if (key !== "type" && key in distributed) (distributed as unknown as Record<string, string>)[key] = String(value);
    }
  }
  const seconds = run.max_run_duration_seconds;
  const inHours = seconds != null && seconds % 3600 === 0;
  return {
    experiment: run.experiment,
    displayName: run.display_name,
    script: run.script,
    arguments: run.arguments.map(argumentItemFrom),
    environment: run.environment_version?.name ?? "",
    environmentVersion: run.environment_version ? String(run.environment_version.version) : "",
    computeTarget: run.compute_target,
    distributed,
    tags: Object.entries(run.tags).map(([key, value]) => ({ key, value })),
    maxDuration: seconds == null ? "" : String(inHours ? seconds / 3600 : Math.round(seconds / 60)),
    maxDurationUnit: inHours ? "hours" : "minutes",
    preemptible: run.preemptible,
    resubmitOf: run.id,
  };
}

function argumentItemFrom(arg: RunArgument): ArgumentItem {
  if (typeof arg === "object" && arg !== null && "dataset" in arg) {
    return {
      kind: "dataset",
      dataset: arg.dataset,
      version: arg.version == null ? "latest" : String(arg.version),
      mode: arg.mode ?? "mount",
      name: arg.name ?? "",
    };
  }
  if (typeof arg === "object" && arg !== null && "model" in arg) {
    return { kind: "model", model: arg.model, version: arg.version == null ? "latest" : String(arg.version), name: arg.name ?? "" };
  }
  return { kind: "text", value: typeof arg === "object" ? JSON.stringify(arg) : String(arg) };
}

const versionOf = (version: string): number | "latest" => (version === "latest" || version === "" ? "latest" : Number(version));

export function argumentsPayload(items: ArgumentItem[]): RunArgument[] {
  return items.map((item) => {
    if (item.kind === "text") return item.value;
    if (item.kind === "model") {
      // Models are always mounted read-only: Model.get_model_path finds them there.
      const model: ModelArgument = { model: item.model, version: versionOf(item.version), mode: "mount" };
      if (item.name.trim()) model.name = item.name.trim();
      return model;
    }
    const arg: DatasetArgument = {
      dataset: item.dataset,
      version: versionOf(item.version),
      mode: item.mode,
    };
    if (item.name.trim()) arg.name = item.name.trim();
    return arg;
  });
}

export function distributedPayload(d: DistributedFields): Record<string, unknown> | null {
  switch (d.type) {
    case "mpi":
      return { type: "mpi", node_count: Number(d.node_count), process_count_per_node: Number(d.process_count_per_node) };
    case "pytorch":
      return {
        type: "pytorch",
        node_count: Number(d.node_count),
        process_count: Number(d.process_count),
        communication_backend: d.communication_backend,
      };
    case "tensorflow":
      return {
        type: "tensorflow",
        worker_count: Number(d.worker_count),
        parameter_server_count: Number(d.parameter_server_count),
      };
    default:
      return null;
  }
}

export function maxDurationSeconds(form: RunForm): number | null {
  if (!form.maxDuration.trim()) return null;
  return Math.round(Number(form.maxDuration) * (form.maxDurationUnit === "hours" ? 3600 : 60));
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function positiveInteger(value: string, min = 1): string | null {
  if (!/^\d+$/.test(value.trim())) return "Enter a whole number.";
  if (Number(value) < min) return `Must be at least ${min}.`;
  return null;
}

/** What the form can tell before asking the server; keys match the API's error paths. */
export function validateDistributed(d: DistributedFields, target: ComputeTarget | undefined): FieldErrors {
  const errors: FieldErrors = {};
  const check = (field: keyof DistributedFields, min = 1) => {
    const problem = positiveInteger(d[field], min);
    if (problem) errors[`distributed.${field}`] = [problem];
  };
  if (d.type === "mpi" || d.type === "pytorch") {
    check("node_count");
    if (d.type === "mpi") check("process_count_per_node");
    else check("process_count");
    if (!errors["distributed.node_count"] && target && Number(d.node_count) > target.max_nodes) {
      errors["distributed.node_count"] = [`${target.name} has at most ${target.max_nodes} node${target.max_nodes === 1 ? "" : "s"}.`];
    }
    if (d.type === "mpi" && !errors["distributed.process_count_per_node"] && target) {
      if (Number(d.process_count_per_node) > target.max_processes_per_node) {
        errors["distributed.process_count_per_node"] = [`${target.name} runs at most ${target.max_processes_per_node} per node.`];
      }
    }
    if (d.type === "pytorch" && !errors["distributed.process_count"] && !errors["distributed.node_count"]) {
      const nodes = Number(d.node_count);
      const total = Number(d.process_count);
      if (total < nodes) errors["distributed.process_count"] = ["Give at least one process per node."];
      else if (total % nodes !== 0) errors["distributed.process_count"] = ["Must be a multiple of the node count."];
      else if (target && total / nodes > target.max_processes_per_node) {
        errors["distributed.process_count"] = [`${target.name} runs at most ${target.max_processes_per_node} per node.`];
      }
    }
  } else if (d.type === "tensorflow") {
    check("worker_count");
    check("parameter_server_count", 0);
  }
  return errors;
}

export function validateRunForm(form: RunForm, hasSource: boolean, target: ComputeTarget | undefined): FieldErrors {
  const errors: FieldErrors = {};
  if (!hasSource && form.resubmitOf == null) errors.snapshot = ["Choose a folder or an archive with your code."];
  if (!form.script.trim()) errors.script = ["Choose the script to run."];
  else if (form.script.startsWith("/") || form.script.split("/").includes(".."))
    errors.script = ["Must be a path inside the snapshot."];
  if (form.experiment && !NAME.test(form.experiment))
    errors.experiment = ["Use letters, digits, '.', '-' and '_' (starting with a letter or digit)."];
  form.arguments.forEach((arg, index) => {
    if (arg.kind === "dataset" && !arg.dataset) errors[`arguments.${index}`] = ["Choose a dataset."];
    if (arg.kind === "model" && !arg.model) errors[`arguments.${index}`] = ["Choose a model."];
  });
  const keys = new Set<string>();
  form.tags.forEach((tag, index) => {
    if (!tag.key.trim() && tag.value.trim()) errors[`tags.${index}`] = ["A tag needs a name."];
    else if (keys.has(tag.key.trim())) errors[`tags.${index}`] = [`'${tag.key}' is used twice.`];
    keys.add(tag.key.trim());
  });
  if (form.maxDuration.trim() && !(Number(form.maxDuration) > 0))
    errors.max_run_duration_seconds = ["Enter a positive number, or leave empty for no limit."];
  if (target && !target.enabled) errors.compute_target = [`${target.name} is disabled.`];
  Object.assign(errors, validateDistributed(form.distributed, target));
  return errors;
}

/** The multipart body POST /api/runs/ expects (structured fields as JSON strings). */
export function submissionForm(form: RunForm, source: File | null): FormData {
  const data = new FormData();
  if (source) data.append("snapshot", source, source.name);
  else if (form.resubmitOf != null) data.append("resubmit_of", String(form.resubmitOf));
  if (form.experiment.trim()) data.append("experiment", form.experiment.trim());
  if (form.displayName.trim()) data.append("display_name", form.displayName.trim());
  data.append("script", form.script.trim());
  data.append("arguments", JSON.stringify(argumentsPayload(form.arguments)));
  if (form.environment) data.append("environment", form.environment);
  if (form.environment && form.environmentVersion) data.append("environment_version", form.environmentVersion);
  if (form.computeTarget) data.append("compute_target", form.computeTarget);
  data.append("distributed", JSON.stringify(distributedPayload(form.distributed)));
  const tags = Object.fromEntries(form.tags.filter((t) => t.key.trim()).map((t) => [t.key.trim(), t.value]));
  data.append("tags", JSON.stringify(tags));
  const seconds = maxDurationSeconds(form);
  if (seconds != null) data.append("max_run_duration_seconds", String(seconds));
  data.append("preemptible", form.preemptible ? "true" : "false");
  return data;
}
