import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../api/client";
import type { components } from "../../api/schema";
import type { LogPage, RunDetail } from "../../api/types";
import { ErrorNotice, Spinner } from "../../components/Feedback";
import { Link } from "react-router-dom";
import { formatBytes, formatRelative } from "../../lib/format";

type Attempt = components["schemas"]["Attempt"];
type Evidence = RunDetail["cause_evidence"];

// The server's taxonomy (runs.causes.Cause) in words a user reads on a failed run.
const CAUSE_LABEL: Record<string, string> = {
  user_error: "Error in the script",
  oom: "Out of memory",
  time_limit: "Time limit",
  canceled: "Canceled",
  preempted: "Preempted",
  hang: "Hung (no output)",
  node_lost: "Node lost",
  worker_lost: "Worker lost",
  environment_build: "Environment build",
  input_materialization: "Inputs",
  infrastructure: "Infrastructure",
};

// Code failures in red; what happened to the run from outside in amber.
const USER_CAUSES = new Set(["user_error", "oom", "hang", "environment_build", "input_materialization"]);

/** Every cause, in the taxonomy's order (the runs list's filter). */
export const CAUSES = Object.keys(CAUSE_LABEL);

export function causeLabel(cause: string): string {
  return CAUSE_LABEL[cause] ?? cause;
}

/** The cause of an ended run, as a badge next to its status (nothing while it runs or once completed). */
export function CauseBadge({ cause }: { cause: string }) {
  if (!cause) return null;
  const tone = cause === "canceled" ? "neutral" : USER_CAUSES.has(cause) ? "danger" : "warning";
  return (
    <span className={`badge badge-${tone}`} data-cause={cause} title={`Failure cause: ${cause}`}>
      {causeLabel(cause)}
    </span>
  );
}

/** What shows the cause: the traceback's last frames, the OOM record, the Slurm state. */
export function CauseEvidence({ cause, evidence }: { cause: string; evidence: Evidence }) {
  if (!cause) return null;
  const facts: [string, string][] = [];
  if (evidence.exit_code != null) facts.push(["Exit code", `${evidence.exit_code}${evidence.signal ? ` (${evidence.signal})` : ""}`]);
  if (evidence.rank != null) facts.push(["Failing rank", String(evidence.rank)]);
  if (evidence.oom_source) facts.push(["Memory", `${evidence.oom_source}${evidence.oom_kills ? `: ${evidence.oom_kills} OOM kill(s)` : ""}`]);
  if (evidence.memory_limit) facts.push(["Memory limit", `${Math.round(evidence.memory_limit / 2 ** 20)} MiB`]);
  if (evidence.containers?.length) facts.push(["Containers", evidence.containers.join(", ")]);
  if (evidence.slurm_state) facts.push(["Slurm state", evidence.slurm_state]);
  if (evidence.limit_seconds) facts.push(["Limit", `${evidence.limit_seconds}s`]);
  if (evidence.idle_seconds) facts.push(["Silent for", `${evidence.idle_seconds}s`]);
  if (evidence.worker) facts.push(["Worker", evidence.worker]);
  return (
    <section className="card" aria-label="Failure cause">
      <h2>
        Why it ended <CauseBadge cause={cause} />
      </h2>
      {evidence.summary && <p>{evidence.summary}</p>}
      {facts.length > 0 && (
        <dl className="props">
          {facts.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      )}
      {evidence.frames && evidence.frames.length > 0 && (
        <pre className="error-block" aria-label="Traceback">
          {evidence.frames.map((f) => `File "${f.file}", line ${f.line}, in ${f.function}\n    ${f.code}`).join("\n")}
          {evidence.exception ? `\n${evidence.exception}` : ""}
        </pre>
      )}
    </section>
  );
}

/** A run's attempts (a retry is the next attempt of the same run), each with its own log. */
export function AttemptsPanel({ run }: { run: RunDetail }) {
  const attempts = useQuery({
    queryKey: ["run", run.id, "attempts", run.attempt, run.status],
    queryFn: () => api<Attempt[]>(`/api/runs/${run.id}/attempts/`),
  });
  const [open, setOpen] = useState<number | null>(null);
  if (attempts.isPending) return <Spinner label="Loading attempts…" />;
  if (attempts.isError) return <ErrorNotice error={attempts.error} />;
  if (attempts.data.length < 2) return null; // one attempt is the run itself
  return (
    <section className="card" aria-label="Attempts">
      <h2>Attempts</h2>
      <table className="table">
        <thead>
          <tr>
            <th>#</th>
            <th>Started</th>
            <th>Status</th>
            <th>Cause</th>
            <th>Exit code</th>
            <th>Preemption</th>
            <th>Log</th>
          </tr>
        </thead>
        <tbody>
          {attempts.data.map((a) => (
            <tr key={a.number}>
              <td>{a.number}</td>
              <td>{formatRelative(a.started_at)}</td>
              <td>{a.status}</td>
              <td>
                <CauseBadge cause={a.cause} />
              </td>
              <td>{a.exit_code ?? "—"}</td>
              <td>
                <PreemptionNote attempt={a} />
              </td>
              <td>
                <button type="button" className="btn btn-small" onClick={() => setOpen(open === a.number ? null : a.number)}>
                  {open === a.number ? "Hide" : `${a.log_lines} lines`}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open != null && <AttemptLog runId={run.id} attempt={open} />}
    </section>
  );
}

/** A preempted attempt: for which run, whether SIGKILL was needed, what it left to resume
 * from; a resumed attempt: the checkpoint dir it started with. */
export function PreemptionNote({ attempt }: { attempt: Attempt }) {
  const checkpoint = attempt.checkpoint ?? {};
  const kept =
    checkpoint.dir != null ? (
      <span className="small muted" data-testid={`checkpoint-${attempt.number}`}>
        {" "}
        checkpoint <code>{checkpoint.dir}</code>
        {checkpoint.files != null && ` (${checkpoint.files} file${checkpoint.files === 1 ? "" : "s"}, ${formatBytes(checkpoint.bytes ?? 0)})`}
      </span>
    ) : null;
  if (attempt.cause === "preempted") {
    const beneficiary = attempt.cause_evidence.beneficiary ?? checkpoint.preempted_for;
    return (
      <span data-testid={`preempted-${attempt.number}`}>
        Preempted
        {beneficiary != null && (
          <>
            {" "}for <Link to={`/runs/${beneficiary}`}>#{beneficiary}</Link>
          </>
        )}
        {attempt.cause_evidence.signal === "SIGKILL" && <span className="small muted"> (killed after the grace period)</span>}
        {kept}
      </span>
    );
  }
  if (attempt.resumed) {
    return (
      <span data-testid={`resumed-${attempt.number}`}>
        <span className="chip">resumed</span>
        {kept}
      </span>
    );
  }
  return <>—</>;
}

function AttemptLog({ runId, attempt }: { runId: number; attempt: number }) {
  const page = useQuery({
    queryKey: ["run", runId, "attempt-log", attempt],
    queryFn: () => api<LogPage>(`/api/runs/${runId}/logs/?attempt=${attempt}&limit=2000`),
  });
  if (page.isPending) return <Spinner label="Loading the attempt's log…" />;
  if (page.isError) return <ErrorNotice error={page.error} />;
  return (
    <pre className="error-block" aria-label={`Log of attempt ${attempt}`}>
      {page.data.lines.map((l) => (l.rank < 0 ? `[runyard] ${l.text}` : l.text)).join("\n")}
    </pre>
  );
}
