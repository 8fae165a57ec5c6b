import { useMemo, useRef, useState } from "react";
import { useDismissable } from "./useDismissable";
import { availableColumns, parseColumn } from "./columns";
import { useRunKeys } from "./api";

/**
 * The column chooser: every metric (latest, min, max), parameter, tag and property the
 * runs have. The choice is saved on the server per user and experiment (see useSaveColumns).
 */
export function ColumnChooser({
  experimentId,
  chosen,
  onChange,
}: {
  experimentId: number | null;
  chosen: string[];
  onChange: (columns: string[]) => void;
}) {
  const ref = useRef<HTMLDetailsElement>(null);
  const [open, setOpen] = useState(false);
  const [search, setSearch] = useState("");
  useDismissable(ref);
  const keys = useRunKeys(experimentId, open);
  const groups = useMemo(() => {
    const all = keys.data ? availableColumns(keys.data) : [];
    const needle = search.trim().toLowerCase();
    return all
      .map((g) => ({ ...g, columns: g.columns.filter((c) => !needle || c.name.toLowerCase().includes(needle)) }))
      .filter((g) => g.columns.length > 0);
  }, [keys.data, search]);
  const toggle = (id: string, on: boolean) => onChange(on ? [...chosen, id] : chosen.filter((c) => c !== id));
  return (
    <details className="dropdown" ref={ref} onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary className="btn" aria-label="Choose columns">
        Columns{chosen.length ? ` (${chosen.length})` : ""} ▾
      </summary>
      <div className="dropdown-menu column-chooser" role="group" aria-label="Columns">
        <input
          type="search"
          placeholder="Find a metric or parameter"
          aria-label="Find a column"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        {keys.isPending && <p className="muted small">Loading the runs' metrics and parameters…</p>}
        {keys.data && groups.length === 0 && <p className="muted small">No metrics, parameters or tags logged yet.</p>}
        {groups.map((group) => (
          <fieldset key={group.group} className="column-group">
            <legend>{group.group}</legend>
            {group.columns.map((column) => (
              <label key={column.id} className="check">
                <input
                  type="checkbox"
                  checked={chosen.includes(column.id)}
                  onChange={(e) => toggle(column.id, e.target.checked)}
                />
                {column.name}
              </label>
            ))}
          </fieldset>
        ))}
        {chosen.length > 0 && (
          <div className="column-chosen">
            {chosen.map((id) => (
              <span key={id} className="chip chip-soft">
                {parseColumn(id)?.label ?? id}
              </span>
            ))}
            <button type="button" className="btn btn-small btn-ghost" onClick={() => onChange([])}>
              Reset
            </button>
          </div>
        )}
      </div>
    </details>
  );
}
