export type RunStatus =
  | "NotStarted"
  | "Queued"
  | "Preparing"
  | "Starting"
  | "Running"
  | "Finalizing"
  | "Completed"
  | "Failed"
  | "CancelRequested"
  | "Canceled"
  | "NotResponding";

export const ALL_STATUSES: RunStatus[] = [
  "NotStarted",
  "Queued",
  "Preparing",
  "Starting",
  "Running",
  "Finalizing",
  "Completed",
  "Failed",
  "CancelRequested",
  "Canceled",
  "NotResponding",
];

export const TERMINAL_STATUSES: RunStatus[] = ["Completed", "Failed", "Canceled"];

export interface Team {
  id: number;
  name: string;
  slug: string;
}

export interface SessionUser {
  id: number;
  username: string;
  is_admin: boolean;
  teams: Team[];
}

export interface Page<T> {
  count?: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export type DistributedConfig =
  | { type: "mpi"; node_count: number; process_count_per_node: number }
  | { type: "pytorch"; node_count: number; process_count: number; communication_backend: string }
  | { type: "tensorflow"; worker_count: number; parameter_server_count: number };

export interface DatasetArgument {
  dataset: string;
  version: number | "latest";
  mode: "mount" | "download";
  name?: string;
}

export type RunArgument = string | number | DatasetArgument | { datastore: string; path: string; mode: string };

export interface RunSummary {
  id: number;
  display_name: string;
  status: RunStatus;
  status_reason: string;
  experiment: string;
  script: string;
  command: string[];
  compute_target: string;
  environment: string;
  distributed: DistributedConfig | null;
  tags: Record<string, string>;
  submitted_by: string;
  created_at: string;
  queued_at: string | null;
  running_at: string | null;
  ended_at: string | null;
  duration_seconds: number | null;
  exit_code: number | null;
  queue_position: number | null;
}

export interface RunDetail extends RunSummary {
  arguments: RunArgument[];
  environment_version: { id: number; name: string; version: number; content_hash: string; curated: boolean };
  max_run_duration_seconds: number | null;
  preparing_at: string | null;
  starting_at: string | null;
  finalizing_at: string | null;
  error: string;
  heartbeat_at: string | null;
  worker: string;
  snapshot_sha256: string;
  snapshot_size: number;
  snapshot_files: number;
  resubmitted_from: number | null;
  build: number | null;
  log_seq: number;
}

/** What status websocket messages carry: a subset of the run. */
export interface RunStatusPayload {
  id: number;
  status: RunStatus;
  status_reason: string;
  exit_code: number | null;
  error: string;
  queued_at: string | null;
  running_at: string | null;
  ended_at: string | null;
}

export interface StatusChange {
  at: string;
  from: RunStatus;
  to: RunStatus;
  reason: string;
  actor: string | null;
}

export interface RunProcess {
  rank: number;
  node_rank: number;
  local_rank: number;
  role: string;
  host: string;
  pid: number | null;
  status: string;
  exit_code: number | null;
  started_at: string | null;
  ended_at: string | null;
}

export interface RunInput {
  name: string;
  mode: "mount" | "download";
  local_path: string;
  dataset: string | null;
  version: number | null;
  datastore: string | null;
  datastore_path: string;
}

export interface LogLine {
  seq: number;
  rank: number;
  stream: "stdout" | "stderr" | "system";
  text: string;
  at: string;
}

export interface MetricPoint {
  name?: string;
  kind: "scalar" | "list" | "row" | "image";
  value: number | null;
  payload: unknown;
  step: number | null;
  at: string;
}

export interface Artifact {
  path: string;
  size: number;
  sha256: string;
  created_at: string;
}

export interface EnvironmentSpec {
  python_version: string;
  pip_requirements: string[];
  conda_specification: string;
  docker_base_image: string;
  dockerfile: string;
  environment_variables: Record<string, string>;
}

export interface EnvironmentVersion {
  id: number;
  environment: number;
  environment_name: string;
  version: number;
  spec: EnvironmentSpec;
  content_hash: string;
  description: string;
  created_by: string | null;
  created_at: string;
}

export interface Environment {
  id: number;
  name: string;
  team: string | null;
  curated: boolean;
  description: string;
  latest_version: EnvironmentVersion | null;
  version_count: number;
  created_by: string | null;
  created_at: string;
}

export interface EnvironmentBuild {
  id: number;
  content_hash: string;
  kind: string;
  location: string;
  status: string;
  path: string;
  error: string;
  log_seq: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  last_used_at: string | null;
  duration_seconds: number | null;
}

export interface BuildLogLine {
  seq: number;
  text: string;
  at: string;
}

export interface ComputeTarget {
  id: number;
  name: string;
  kind: string;
  description: string;
  max_concurrent_runs: number;
  max_nodes: number;
  max_processes_per_node: number;
  config: Record<string, unknown>;
  enabled: boolean;
  queue: string;
  running_runs: number;
  queued_runs: number;
  can_run: string[];
  /** For `local` targets: whether run scripts run in the bubblewrap sandbox (null for other kinds). */
  isolation: { sandboxed: boolean; summary: string } | null;
  created_at: string;
}

export interface Experiment {
  id: number;
  name: string;
  team: string;
  description: string;
  run_count: number;
  created_at: string;
}

export interface Datastore {
  id: number;
  name: string;
  root_path: string;
  read_only: boolean;
  is_default: boolean;
  description: string;
}

export interface DatasetVersion {
  id: number;
  dataset: number;
  version: number;
  description: string;
  tags: Record<string, string>;
  /** The datastore's name (older servers sent its id). */
  datastore: string | number | null;
  source_path: string;
  total_size: number;
  file_count: number;
  created_by: string | null;
  created_at: string;
}

export interface Dataset {
  id: number;
  name: string;
  team: string;
  description: string;
  latest_version: DatasetVersion | null;
  created_at: string;
}

export interface DatasetFile {
  path: string;
  size: number;
  sha256: string;
}

export interface AuditEvent {
  id: number;
  at: string;
  actor: number | null;
  actor_name: string;
  action: string;
  object_type: string;
  object_id: string;
  object_repr: string;
  team: number | null;
  changes: Record<string, unknown>;
  ip: string | null;
  request_id: string;
  via: string;
}
