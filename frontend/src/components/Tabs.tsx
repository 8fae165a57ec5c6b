import { useRef, type KeyboardEvent } from "react";

export interface TabItem<K extends string> {
  key: K;
  label: string;
  badge?: string | number;
}

/** ARIA tabs with arrow-key navigation; the selected tab lives in the URL so it can be linked. */
export function Tabs<K extends string>({
  items,
  selected,
  onSelect,
  label,
}: {
  items: TabItem<K>[];
  selected: K;
  onSelect: (key: K) => void;
  label: string;
}) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const onKeyDown = (event: KeyboardEvent, index: number) => {
    const delta = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    if (!delta) return;
    event.preventDefault();
    const next = (index + delta + items.length) % items.length;
    refs.current[next]?.focus();
    onSelect(items[next].key);
  };
  return (
    <div className="tabs" role="tablist" aria-label={label}>
      {items.map((item, index) => (
        <button
          key={item.key}
          ref={(el) => {
            refs.current[index] = el;
          }}
          type="button"
          role="tab"
          id={`tab-${item.key}`}
          aria-selected={item.key === selected}
          aria-controls={`panel-${item.key}`}
          tabIndex={item.key === selected ? 0 : -1}
          className={`tab ${item.key === selected ? "tab-active" : ""}`}
          onClick={() => onSelect(item.key)}
          onKeyDown={(event) => onKeyDown(event, index)}
        >
          {item.label}
          {item.badge !== undefined && <span className="tab-badge">{item.badge}</span>}
        </button>
      ))}
    </div>
  );
}
