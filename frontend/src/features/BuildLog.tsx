import { useEffect, useRef } from "react";
import { useBuild, useBuildLog } from "../api/queries";
import { ErrorNotice, Spinner } from "../components/Feedback";
import { formatDateTime, formatDuration } from "../lib/format";

const BUILD_TONE: Record<string, string> = {
  pending: "neutral",
  building: "info",
  succeeded: "success",
  failed: "danger",
};

export function BuildStatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${BUILD_TONE[status] ?? "neutral"}`}>{status}</span>;
}

/** An environment build's status and log; polled while the build is still going. */
export function BuildLog({ buildId }: { buildId: number }) {
  const build = useBuild(buildId);
  const running = build.data?.status === "building" || build.data?.status === "pending";
  const log = useBuildLog(buildId, running);
  const end = useRef<HTMLDivElement>(null);
  const wasRunning = useRef(running);
  const refetchLog = log.refetch;
  useEffect(() => {
    if (running) end.current?.scrollIntoView?.({ block: "nearest" });
  }, [log.data, running]);
  useEffect(() => {
    // The build ended between two polls: fetch the log's last lines once.
    if (wasRunning.current && !running) void refetchLog();
    wasRunning.current = running;
  }, [running, refetchLog]);
  if (build.isPending) return <Spinner label="Loading build…" />;
  if (build.isError) return <ErrorNotice error={build.error} />;
  const b = build.data;
  return (
    <div className="build">
      <dl className="meta-row">
        <div>
          <dt>Status</dt>
          <dd>
            <BuildStatusBadge status={b.status} />
          </dd>
        </div>
        <div>
          <dt>Kind</dt>
          <dd>{b.kind}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatDateTime(b.started_at)}</dd>
        </div>
        <div>
          <dt>Took</dt>
          <dd>{formatDuration(b.duration_seconds)}</dd>
        </div>
        <div>
          <dt>Content hash</dt>
          <dd className="mono" title={b.content_hash}>
            {b.content_hash.slice(0, 12)}
          </dd>
        </div>
      </dl>
      {b.error && <pre className="error-block">{b.error}</pre>}
      {log.isError ? (
        <ErrorNotice error={log.error} />
      ) : (
        <pre className="plain-log" aria-label="Build log" tabIndex={0}>
          {log.data?.lines.length ? log.data.lines.map((line) => line.text).join("\n") : "No build output."}
          <div ref={end} />
        </pre>
      )}
    </div>
  );
}
