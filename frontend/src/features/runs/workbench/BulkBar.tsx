import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { ErrorNotice } from "../../../components/Feedback";
import { useBulkAction, type BulkAction, type BulkResult } from "./api";

const DONE: Record<BulkAction, string> = {
  cancel: "cancel requested",
  tag: "tagged",
  archive: "archived",
  restore: "restored",
};

export const MAX_COMPARE = 10;

/** Actions on the selected runs; says what was done and what the server refused, and why. */
export function BulkBar({
  selected,
  archivedView,
  onClear,
}: {
  selected: number[];
  archivedView: boolean;
  onClear: () => void;
}) {
  const bulk = useBulkAction();
  const [tagText, setTagText] = useState("");
  const [result, setResult] = useState<BulkResult | null>(null);
  const run = (action: BulkAction, extra: { tags?: Record<string, string> } = {}) =>
    bulk.mutate({ action, ids: selected, ...extra }, { onSuccess: (answer) => setResult(answer) });
  const tag = (event: FormEvent) => {
    event.preventDefault();
    const tags: Record<string, string> = {};
    for (const part of tagText.split(",")) {
      const [key, ...rest] = part.split("=");
      if (key.trim()) tags[key.trim()] = rest.join("=").trim();
    }
    if (Object.keys(tags).length) run("tag", { tags });
  };
  const compareIds = selected.slice(0, MAX_COMPARE).join(",");
  return (
    <div className="bulk-bar" role="region" aria-label="Selected runs">
      <strong>{selected.length} selected</strong>
      {selected.length >= 2 ? (
        <Link to={`/runs/compare?ids=${compareIds}`} className="btn btn-primary btn-small">
          Compare{selected.length > MAX_COMPARE ? ` first ${MAX_COMPARE}` : ""}
        </Link>
      ) : (
        <span className="muted small">Select two or more runs to compare</span>
      )}
      <button type="button" className="btn btn-small btn-danger-outline" disabled={bulk.isPending} onClick={() => run("cancel")}>
        Cancel runs
      </button>
      <form className="bulk-tag" onSubmit={tag}>
        <input
          placeholder="tag: key=value, key2=value"
          aria-label="Tags to add to the selected runs"
          value={tagText}
          onChange={(e) => setTagText(e.target.value)}
          className="filter-small"
        />
        <button type="submit" className="btn btn-small" disabled={bulk.isPending || !tagText.trim()}>
          Tag
        </button>
      </form>
      {archivedView ? (
        <button type="button" className="btn btn-small" disabled={bulk.isPending} onClick={() => run("restore")}>
          Restore
        </button>
      ) : (
        <button type="button" className="btn btn-small" disabled={bulk.isPending} onClick={() => run("archive")}>
          Archive
        </button>
      )}
      <button type="button" className="btn btn-small btn-ghost" onClick={onClear}>
        Clear selection
      </button>
      {bulk.isError && <ErrorNotice error={bulk.error} />}
      {result && (
        <div className={`notice ${result.refused.length ? "notice-warning" : "notice-success"}`} role="status">
          {result.done.length} {DONE[result.action as BulkAction] ?? result.action}
          {result.refused.length > 0 && (
            <>
              ; {result.refused.length} refused:
              <ul className="refusals">
                {result.refused.map((r) => (
                  <li key={r.id}>
                    #{r.id}: {r.reason}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
    </div>
  );
}
