import { useState, type FormEvent } from "react";
import { conditionParam } from "./columns";

export interface Condition {
  param: string;
  value: string;
}

const SHOWN: Record<string, (value: string) => string> = {
  metric: (v) => v,
  metric_min: (v) => `min(${v.replace(/(>=|<=|!=|>|<|=)/, ")$1")}`,
  metric_max: (v) => `max(${v.replace(/(>=|<=|!=|>|<|=)/, ")$1")}`,
  param: (v) => `param(${v.replace(/(>=|<=|!=|>|<|=)/, ")$1")}`,
};

/** Metric and parameter conditions (acc>0.9, max(acc)>=0.95, param(lr)<0.01) as removable chips. */
export function ConditionFilter({ conditions, onChange }: { conditions: Condition[]; onChange: (next: Condition[]) => void }) {
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const add = (event: FormEvent) => {
    event.preventDefault();
    if (!text.trim()) return;
    const parsed = conditionParam(text);
    if ("error" in parsed) {
      setError(parsed.error);
      return;
    }
    setError(null);
    setText("");
    onChange([...conditions, parsed]);
  };
  return (
    <form className="condition-filter" onSubmit={add}>
      <input
        placeholder="Metric filter: acc>0.9"
        aria-label="Metric or parameter condition"
        aria-invalid={error ? true : undefined}
        title="acc>0.9 (latest value), min(loss)<0.1, max(acc)>=0.95, param(lr)<=0.01, param(opt)=adam"
        value={text}
        onChange={(e) => setText(e.target.value)}
        className="filter-small"
      />
      {conditions.map((c, i) => (
        <span key={`${c.param}:${c.value}`} className="chip chip-soft">
          {(SHOWN[c.param] ?? ((v: string) => v))(c.value)}
          <button
            type="button"
            className="chip-remove"
            aria-label={`Remove condition ${c.value}`}
            onClick={() => onChange(conditions.filter((_, k) => k !== i))}
          >
            ×
          </button>
        </span>
      ))}
      {error && (
        <span className="field-error small" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
