import type { ComputeTarget } from "../../api/types";
import { FieldErrorList } from "../../components/Field";

/** Targets as cards: what each can run and how busy it is, so the choice is informed. */
export function ComputePicker({
  targets,
  value,
  onChange,
  errors,
}: {
  targets: ComputeTarget[];
  value: string;
  onChange: (name: string) => void;
  errors?: string[];
}) {
  return (
    <fieldset className="picker">
      <legend>Compute target</legend>
      <div className="picker-grid">
        {targets.map((target) => (
          <label
            key={target.id}
            className={`picker-card ${value === target.name ? "picker-on" : ""} ${target.enabled ? "" : "picker-disabled"}`}
          >
            <input
              type="radio"
              name="compute_target"
              value={target.name}
              checked={value === target.name}
              disabled={!target.enabled}
              onChange={() => onChange(target.name)}
            />
            <span className="picker-title">
              {target.name} <span className="chip">{target.kind}</span>
            </span>
            <span className="muted small">
              {target.max_nodes} node{target.max_nodes === 1 ? "" : "s"} × {target.max_processes_per_node} processes ·{" "}
              {target.max_concurrent_runs} runs at once
            </span>
            <span className="small">
              {target.running_runs} running · {target.queued_runs} queued
              {!target.enabled && " · disabled"}
            </span>
            <span className="tag-row">
              {target.can_run.map((kind) => (
                <span key={kind} className="chip chip-soft">
                  {kind}
                </span>
              ))}
            </span>
          </label>
        ))}
      </div>
      <FieldErrorList errors={errors} />
    </fieldset>
  );
}
