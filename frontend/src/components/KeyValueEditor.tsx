import { FieldErrorList } from "./Field";

export interface KeyValue {
  key: string;
  value: string;
}

/** Rows of name/value pairs (run tags, environment variables). */
export function KeyValueEditor({
  items,
  onChange,
  keyLabel,
  valueLabel,
  addLabel,
  errorsAt,
}: {
  items: KeyValue[];
  onChange: (items: KeyValue[]) => void;
  keyLabel: string;
  valueLabel: string;
  addLabel: string;
  errorsAt?: (index: number) => string[] | undefined;
}) {
  const set = (index: number, change: Partial<KeyValue>) =>
    onChange(items.map((item, i) => (i === index ? { ...item, ...change } : item)));
  return (
    <div className="kv">
      {items.map((item, index) => (
        <div key={index} className="kv-row">
          <input
            aria-label={`${keyLabel} ${index + 1}`}
            placeholder={keyLabel}
            value={item.key}
            onChange={(e) => set(index, { key: e.target.value })}
          />
          <input
            aria-label={`${valueLabel} ${index + 1}`}
            placeholder={valueLabel}
            value={item.value}
            onChange={(e) => set(index, { value: e.target.value })}
          />
          <button
            type="button"
            className="btn btn-icon"
            aria-label={`Remove ${keyLabel.toLowerCase()} ${item.key || index + 1}`}
            onClick={() => onChange(items.filter((_, i) => i !== index))}
          >
            ×
          </button>
          <FieldErrorList errors={errorsAt?.(index)} />
        </div>
      ))}
      <button type="button" className="btn btn-small" onClick={() => onChange([...items, { key: "", value: "" }])}>
        + {addLabel}
      </button>
    </div>
  );
}
