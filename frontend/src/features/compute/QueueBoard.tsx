import { useState } from "react";
import { Link } from "react-router-dom";
import { useQueueBoard, useQueueTimeline, useSaveQuota, useTeamQuotas } from "../../api/scheduling";
import { PRIORITIES, type ComputeTarget, type Priority } from "../../api/types";
import { ErrorNotice, Spinner } from "../../components/Feedback";
import { SeriesChart } from "../../components/SeriesChart";

/** A target's queue as the scheduler sees it: capacity per team (running, borrowed beyond
 * the guaranteed share, queued), a timeline per team, and why each of your runs waits. */
export function QueueBoard({ target, isAdmin }: { target: ComputeTarget; isAdmin: boolean }) {
  const board = useQueueBoard(target.id);
  const timeline = useQueueTimeline(target.id, 24);
  if (board.isPending) return <Spinner label="Loading the queue…" />;
  if (board.isError) return <ErrorNotice error={board.error} />;
  const b = board.data;
  return (
    <div className="queue-board" aria-label={`Queue of ${target.name}`}>
      {b.served === false && (
        <p className="notice notice-warning small" role="alert">
          No worker is serving {target.queue}: queued runs wait until one starts.
        </p>
      )}
      {b.teams.length > 0 && (
        <table className="table small" aria-label={`Capacity per team on ${target.name}`}>
          <thead>
            <tr>
              <th>Team</th>
              <th>Share</th>
              <th>Limit</th>
              <th>Running</th>
              <th>Borrowed</th>
              <th>Queued</th>
              <th title="Decayed run-hours (GPU-hours where runs have GPUs)">Usage (h)</th>
            </tr>
          </thead>
          <tbody>
            {b.teams.map((t) => (
              <tr key={t.team}>
                <td>{t.team}</td>
                <td>{t.share}</td>
                <td>{t.max_runs ?? "—"}</td>
                <td>{t.running}</td>
                <td>{t.borrowed}</td>
                <td>{t.queued}</td>
                <td>{t.usage_hours.toFixed(1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {timeline.data && timeline.data.series.length > 0 && (
        <SeriesChart
          title={`Running, borrowed and queued runs per team on ${target.name}, last 24 hours`}
          times={timeline.data.at.map((t) => Date.parse(t) / 1000)}
          series={timeline.data.series.flatMap((s) => [
            { label: `${s.team} running`, values: s.running },
            { label: `${s.team} borrowed`, values: s.borrowed },
            { label: `${s.team} queued`, values: s.queued },
          ])}
        />
      )}
      {b.runs.length > 0 && (
        <ol className="queue-list small" aria-label={`Waiting runs on ${target.name}`}>
          {b.runs.map((r) => (
            <li key={r.id}>
              <Link to={`/runs/${r.id}`}>#{r.id}</Link> <span className="chip chip-soft">{r.priority}</span> {r.team}:{" "}
              <span className="muted">{r.waiting_reason}</span>
            </li>
          ))}
        </ol>
      )}
      {isAdmin && <QuotaEditor target={target} />}
    </div>
  );
}

function numberOrNull(value: string): number | null {
  return value.trim() === "" ? null : Number(value);
}

/** Admins: a team's guaranteed share, run and GPU limits, and max priority on this target. */
function QuotaEditor({ target }: { target: ComputeTarget }) {
  const quotas = useTeamQuotas();
  const save = useSaveQuota();
  const [team, setTeam] = useState("");
  const [share, setShare] = useState("0");
  const [maxRuns, setMaxRuns] = useState("");
  const [maxGpus, setMaxGpus] = useState("");
  const [maxPriority, setMaxPriority] = useState<Priority>("high");
  const mine = (quotas.data ?? []).filter((q) => q.compute_target === target.name);
  const existing = mine.find((q) => q.team === team);
  return (
    <details className="quota-editor">
      <summary>Team quotas ({mine.length})</summary>
      <ul className="small">
        {mine.map((q) => (
          <li key={q.id}>
            {q.team}: share {q.share}, limit {q.max_runs ?? "—"} runs, {q.max_gpus ?? "—"} GPUs, up to {q.max_priority}
          </li>
        ))}
      </ul>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate({
            id: existing?.id,
            team,
            compute_target: target.name,
            share: Number(share),
            max_runs: numberOrNull(maxRuns),
            max_gpus: numberOrNull(maxGpus),
            max_priority: maxPriority,
          });
        }}
      >
        <label>
          Team (slug) <input value={team} onChange={(e) => setTeam(e.target.value)} required />
        </label>
        <label>
          Share <input type="number" min={0} value={share} onChange={(e) => setShare(e.target.value)} />
        </label>
        <label>
          Max runs <input type="number" min={0} value={maxRuns} onChange={(e) => setMaxRuns(e.target.value)} />
        </label>
        <label>
          Max GPUs <input type="number" min={0} value={maxGpus} onChange={(e) => setMaxGpus(e.target.value)} />
        </label>
        <label>
          Max priority{" "}
          <select value={maxPriority} onChange={(e) => setMaxPriority(e.target.value as Priority)}>
            {PRIORITIES.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <button type="submit" className="btn" disabled={save.isPending}>
          {existing ? "Update quota" : "Set quota"}
        </button>
        {save.isSuccess && <span className="muted small">Saved.</span>}
        {save.isError && <ErrorNotice error={save.error} />}
      </form>
    </details>
  );
}
