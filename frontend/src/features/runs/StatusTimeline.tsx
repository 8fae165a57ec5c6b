import type { RunStatus, StatusChange } from "../../api/types";
import { statusLabel, statusTone } from "../../components/StatusBadge";
import { formatDuration, formatFullDateTime, formatTime } from "../../lib/format";
import { isTerminal } from "../../lib/runs";

export interface Phase {
  status: RunStatus;
  start: number;
  end: number;
  ongoing: boolean;
  reason: string;
}

/** Each status the run entered, from when it was entered until the next one (or now). */
export function phasesFrom(history: StatusChange[], now: number): Phase[] {
  return history.map((change, index) => {
    const next = history[index + 1];
    const start = Date.parse(change.at);
    const last = !next;
    return {
      status: change.to,
      start,
      end: next ? Date.parse(next.at) : isTerminal(change.to) ? start : Math.max(start, now),
      ongoing: last && !isTerminal(change.to),
      reason: change.reason,
    };
  });
}

/** A Gantt-style bar (one segment per phase, width by duration) with the numbers below it. */
export function StatusTimeline({ history, now }: { history: StatusChange[]; now: number }) {
  const phases = phasesFrom(history, now);
  const timed = phases.filter((p) => !isTerminal(p.status));
  const total = timed.reduce((sum, p) => sum + (p.end - p.start), 0) || 1;
  const final = phases.length ? phases[phases.length - 1] : null;
  if (!phases.length) return <p className="muted">No status changes recorded yet.</p>;
  return (
    <div className="timeline">
      <div className="timeline-bar" role="img" aria-label="Time spent in each status">
        {timed.map((phase, index) => (
          <div
            key={index}
            className={`timeline-seg phase-${phase.status}${phase.ongoing ? " is-ongoing" : ""}`}
            style={{ flexGrow: Math.max((phase.end - phase.start) / total, 0.004) }}
            title={`${statusLabel(phase.status)}: ${formatDuration((phase.end - phase.start) / 1000)}`}
          />
        ))}
        {final && isTerminal(final.status) && (
          <div className={`timeline-end tone-${statusTone(final.status)}`} title={statusLabel(final.status)} />
        )}
      </div>
      <table className="table table-compact timeline-table">
        <thead>
          <tr>
            <th scope="col">Status</th>
            <th scope="col">Entered</th>
            <th scope="col" className="num">Duration</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {phases.map((phase, index) => (
            <tr key={index}>
              <td>
                <span className={`dot ${isTerminal(phase.status) ? `tone-${statusTone(phase.status)}` : `phase-${phase.status}`}`} aria-hidden="true" />
                {statusLabel(phase.status)}
              </td>
              <td title={formatFullDateTime(new Date(phase.start).toISOString())}>{formatTime(new Date(phase.start).toISOString())}</td>
              <td className="num">
                {isTerminal(phase.status) ? "—" : formatDuration((phase.end - phase.start) / 1000)}
                {phase.ongoing && " …"}
              </td>
              <td className="muted">{phase.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
