import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { api } from "../api/client";
import { useProcesses, useRun, useStatusHistory } from "../api/queries";
import { useSetPriority } from "../api/scheduling";
import { PRIORITIES, type RunDetail } from "../api/types";
import { ErrorNotice, Spinner } from "../components/Feedback";
import { isNotFound, NotFound } from "../components/NotFound";
import { StatusBadge } from "../components/StatusBadge";
import { Tabs } from "../components/Tabs";
import { BuildLog } from "../features/BuildLog";
import { RunModels } from "../features/models/RunModels";
import { ArtifactsPanel } from "../features/runs/ArtifactsPanel";
import { CodePanel } from "../features/runs/CodePanel";
import { RunAbout } from "../features/runs/RunAbout";
import { ErrorExcerpt } from "../features/runs/ErrorExcerpt";
import { AttemptsPanel, CauseBadge, CauseEvidence } from "../features/runs/FailureCause";
import { LogViewer } from "../features/runs/LogViewer";
import { MetricsPanel, SYSTEM_PREFIX } from "../features/runs/MetricsPanel";
import { RunCrumbs } from "../features/runs/RunFamily";
import { RunOverview } from "../features/runs/RunOverview";
import { StatusTimeline } from "../features/runs/StatusTimeline";
import { formatDuration, formatRelative } from "../lib/format";
import { isCancelable, isTerminal, runDuration, runTitle } from "../lib/runs";
import { useDocumentTitle } from "../lib/useDocumentTitle";
import { useNow } from "../lib/useNow";
import { useRunStream, type StreamState } from "../lib/useRunStream";

type TabKey = "overview" | "logs" | "metrics" | "system" | "artifacts" | "code" | "build";

export default function RunPage({ runId }: { runId: number }) {
  const run = useRun(runId);
  useDocumentTitle(run.data ? `#${run.data.id} ${runTitle(run.data)}` : `Run ${runId}`);
  if (run.data) return <RunView data={run.data} />;
  if (run.isPending) return <Spinner label="Loading run…" />;
  // A missing run (or another team's) opens no websocket and asks for no metrics: the
  // stream lives in RunView, which only a loaded run reaches.
  if (isNotFound(run.error)) return <NotFound kind="run" id={runId} back="/runs" backLabel="All runs" />;
  return <ErrorNotice error={run.error} onRetry={() => void run.refetch()} />;
}

function RunView({ data }: { data: RunDetail }) {
  const stream = useRunStream(data.id);
  const [params, setParams] = useSearchParams();
  const tab = (params.get("tab") as TabKey) || "overview";
  const focusSeq = Number(params.get("seq")) || null;
  const live = !isTerminal(data.status);
  const metricNames = stream.metrics.names();
  const systemCount = metricNames.filter((name) => name.startsWith(SYSTEM_PREFIX)).length;
  const tabs = [
    { key: "overview" as const, label: "Overview" },
    { key: "logs" as const, label: "Logs", badge: stream.logs.size ? stream.logs.size.toLocaleString() : undefined },
    { key: "metrics" as const, label: "Metrics", badge: metricNames.length - systemCount || undefined },
    { key: "system" as const, label: "System", badge: systemCount || undefined },
    { key: "artifacts" as const, label: "Artifacts" },
    ...(data.snapshot_sha256 ? [{ key: "code" as const, label: "Code" }] : []),
    // From Preparing on: the worker links the build before it starts building.
    ...(data.build || data.status === "Preparing" ? [{ key: "build" as const, label: "Environment build" }] : []),
  ];
  return (
    <section className="page">
      <RunHeader run={data} streamState={stream.state} />
      <Tabs
        label="Run sections"
        items={tabs}
        selected={tab}
        onSelect={(key) => setParams(key === "overview" ? {} : { tab: key }, { replace: true })}
      />
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} className="tab-panel">
        {tab === "overview" && (
          <>
            {data.status === "Failed" && <ErrorExcerpt runId={data.id} />}
            <RunAbout run={data} />
            <TimelineCard run={data} />
            <CauseEvidence cause={data.cause} evidence={data.cause_evidence} />
            <AttemptsPanel run={data} />
            <RunModels runId={data.id} />
            <RunOverview run={data} />
          </>
        )}
        {tab === "logs" && <RunLogs run={data} stream={stream} focusSeq={focusSeq} />}
        {tab === "metrics" && (
          <MetricsPanel
            runId={data.id}
            store={stream.metrics}
            version={stream.metricsVersion}
            loaded={stream.metricsLoaded}
            live={live}
          />
        )}
        {tab === "system" && (
          <MetricsPanel
            runId={data.id}
            store={stream.metrics}
            version={stream.metricsVersion}
            loaded={stream.metricsLoaded}
            live={live}
            system
          />
        )}
        {tab === "artifacts" && <ArtifactsPanel runId={data.id} finished={!live} />}
        {tab === "code" && data.snapshot_sha256 && (
          <CodePanel runId={data.id} snapshotSize={data.snapshot_size} script={data.script} />
        )}
        {tab === "build" &&
          (data.build ? <BuildLog buildId={data.build} /> : <Spinner label="Waiting for the environment build…" />)}
      </div>
    </section>
  );
}

function RunLogs({
  run,
  stream,
  focusSeq,
}: {
  run: RunDetail;
  stream: ReturnType<typeof useRunStream>;
  focusSeq: number | null;
}) {
  const processes = useProcesses(run.id);
  const knownRanks = processes.data?.map((p) => p.rank) ?? [];
  return (
    <LogViewer
      buffer={stream.logs}
      version={stream.logVersion}
      knownRanks={knownRanks}
      downloadUrl={`/api/runs/${run.id}/logs/download/`}
      live={!isTerminal(run.status)}
      focusSeq={focusSeq}
    />
  );
}

function TimelineCard({ run }: { run: RunDetail }) {
  const history = useStatusHistory(run.id);
  const now = useNow(!isTerminal(run.status));
  return (
    <section className="card">
      <h2 className="card-title">Status timeline</h2>
      {history.isPending ? (
        <Spinner />
      ) : history.isError ? (
        <ErrorNotice error={history.error} />
      ) : (
        <StatusTimeline history={history.data} now={now} />
      )}
    </section>
  );
}

function RunHeader({ run, streamState }: { run: RunDetail; streamState: StreamState }) {
  const now = useNow(!!run.running_at && !run.ended_at);
  const navigate = useNavigate();
  return (
    <header className="page-header run-header">
      <div className="run-heading">
        <RunCrumbs run={run} />
        <h1>
          {runTitle(run)} <StatusBadge status={run.status} queuePosition={run.queue_position} /> <CauseBadge cause={run.cause} />
        </h1>
        <p className="muted">
          {[run.experiment, run.compute_target, run.environment].filter(Boolean).join(" · ")}
          {run.interactive && (
            <>
              {" "}
              <span className="chip" title="Logged to by its client (start_logging / child_run): no script, no compute">
                interactive
              </span>
            </>
          )}
          {run.preemptible && (
            <>
              {" "}
              <span className="chip" title="The scheduler may stop it for a higher-priority or under-share run; it then resumes as a new attempt">
                preemptible
              </span>
            </>
          )}
          {run.parent != null && (
            <>
              {" "}· child of <Link to={`/runs/${run.parent}`}>#{run.parent}</Link>
            </>
          )}{" "}
          · by {run.submitted_by}{" "}
          {formatRelative(run.created_at, now)}
          {run.running_at && <> · ran {formatDuration(runDuration(run, now))}</>}
          {run.exit_code != null && <> · exit code {run.exit_code}</>} <LiveIndicator state={streamState} live={!isTerminal(run.status)} />
        </p>
        {run.preempt_requested_at && !isTerminal(run.status) && (
          <p className="notice notice-warning" data-testid="being-preempted">
            Being preempted{run.preempt_reason ? `: ${run.preempt_reason}` : ""}. It stops within its grace period and resumes
            as attempt {run.attempt + 1}.
          </p>
        )}
        {isSweep(run) && (
          <p className="notice notice-info" data-testid="sweep-link">
            This run is a sweep: its children, charts and best run are on <Link to={`/sweeps/${run.id}`}>the sweep page</Link>.
          </p>
        )}
        {run.status === "Queued" && run.compute_target && (
          <div className="notice notice-info" aria-label="Why the run waits">
            <p>
              {run.queue_position != null ? (
                <>
                  Position {run.queue_position} in the queue of <strong>{run.compute_target}</strong>:{" "}
                </>
              ) : (
                <>Waiting on <strong>{run.compute_target}</strong>: </>
              )}
              {run.waiting_reason || "waiting for capacity"}.
            </p>
            <PriorityPicker run={run} />
          </div>
        )}
        {run.status === "Failed" && run.error && (
          <details className="notice notice-danger">
            <summary>{run.status_reason || "The run failed"}</summary>
            <pre className="error-block">{run.error}</pre>
          </details>
        )}
      </div>
      <div className="header-actions">
        {isCancelable(run.status) && <CancelButton runId={run.id} />}
        {!run.interactive && !isSweep(run) && (
          <button type="button" className="btn" onClick={() => navigate(`/runs/new?from=${run.id}`)}>
            Resubmit
          </button>
        )}
      </div>
    </header>
  );
}

/** A sweep's parent run (Azure marks a HyperDrive run with this property). */
function isSweep(run: RunDetail): boolean {
  return run.properties["azureml.runsource"] === "hyperdrive";
}

function LiveIndicator({ state, live }: { state: StreamState; live: boolean }) {
  if (!live) return null;
  const text = state === "live" ? "live" : state === "closed" ? "not streaming" : "connecting…";
  return (
    <span className={`live live-${state}`} title="Log, status and metrics stream">
      <span className="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

/** A Queued run's priority, changeable within the team's cap (the server says when it is not). */
function PriorityPicker({ run }: { run: RunDetail }) {
  const change = useSetPriority(run.id);
  return (
    <label className="small">
      Priority{" "}
      <select value={run.priority} disabled={change.isPending || !!run.worker} onChange={(e) => change.mutate(e.target.value)}>
        {PRIORITIES.map((p) => (
          <option key={p}>{p}</option>
        ))}
      </select>
      {change.isError && <ErrorNotice error={change.error} />}
    </label>
  );
}

/** Two steps instead of window.confirm, which is easy to dismiss by accident and hard to test. */
function CancelButton({ runId }: { runId: number }) {
  const [confirming, setConfirming] = useState(false);
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => api<RunDetail>(`/api/runs/${runId}/cancel/`, { method: "POST", json: {} }),
    onSuccess: (run) => {
      queryClient.setQueryData(["run", runId], run);
      setConfirming(false);
    },
  });
  if (!confirming)
    return (
      <button type="button" className="btn btn-danger-outline" onClick={() => setConfirming(true)}>
        Cancel run
      </button>
    );
  return (
    <div className="confirm" role="group" aria-label="Confirm cancel">
      <span>Stop every process of this run?</span>
      <button type="button" className="btn btn-danger" onClick={() => cancel.mutate()} disabled={cancel.isPending} autoFocus>
        {cancel.isPending ? "Canceling…" : "Yes, cancel run"}
      </button>
      <button type="button" className="btn" onClick={() => setConfirming(false)}>
        Keep running
      </button>
      {cancel.isError && <ErrorNotice error={cancel.error} />}
    </div>
  );
}
