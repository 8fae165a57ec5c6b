import type { DistributedConfig, RunStatus, RunSummary } from "../api/types";
import { TERMINAL_STATUSES } from "../api/types";

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

export function isCancelable(status: RunStatus): boolean {
  return !isTerminal(status) && status !== "CancelRequested";
}

/** Seconds the run has been (or was) running; ticks against `now` while it still runs. */
export function runDuration(run: Pick<RunSummary, "running_at" | "ended_at" | "duration_seconds">, now: number) {
  if (!run.running_at) return run.duration_seconds;
  const end = run.ended_at ? Date.parse(run.ended_at) : now;
  return Math.max(0, (end - Date.parse(run.running_at)) / 1000);
}

export function describeDistributed(config: DistributedConfig | null | undefined): string {
  if (!config) return "Single process";
  switch (config.type) {
    case "mpi":
      return `MPI · ${config.node_count} node${config.node_count === 1 ? "" : "s"} × ${config.process_count_per_node} processes`;
    case "pytorch":
      return `PyTorch · ${config.node_count} node${config.node_count === 1 ? "" : "s"}, ${config.process_count} processes (${config.communication_backend})`;
    case "tensorflow":
      return `TensorFlow · ${config.worker_count} workers, ${config.parameter_server_count} parameter servers`;
    default:
      return JSON.stringify(config);
  }
}

export function runTitle(run: Pick<RunSummary, "id" | "display_name" | "script" | "command">): string {
  return run.display_name || run.script || run.command.join(" ") || `Run ${run.id}`;
}
