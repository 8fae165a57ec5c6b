import type { RunStatus } from "../api/types";

const TONE: Record<RunStatus, string> = {
  NotStarted: "neutral",
  Queued: "neutral",
  Preparing: "info",
  Starting: "info",
  Running: "info",
  Finalizing: "info",
  Completed: "success",
  Failed: "danger",
  CancelRequested: "warning",
  Canceled: "warning",
  NotResponding: "danger",
};

const LABEL: Partial<Record<RunStatus, string>> = {
  NotStarted: "Not started",
  CancelRequested: "Cancel requested",
  NotResponding: "Not responding",
};

const MOVING: RunStatus[] = ["Preparing", "Starting", "Running", "Finalizing", "CancelRequested"];

export function statusLabel(status: RunStatus): string {
  return LABEL[status] ?? status;
}

export function statusTone(status: RunStatus): string {
  return TONE[status] ?? "neutral";
}

export function StatusBadge({ status, queuePosition }: { status: RunStatus; queuePosition?: number | null }) {
  return (
    <span className={`badge badge-${statusTone(status)}`} data-status={status}>
      {MOVING.includes(status) && <span className="pulse" aria-hidden="true" />}
      {statusLabel(status)}
      {status === "Queued" && queuePosition != null && (
        <span className="badge-extra" title="Position in this compute target's queue">
          #{queuePosition}
        </span>
      )}
    </span>
  );
}
