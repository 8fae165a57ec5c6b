import "./workbench.css";
import { Link } from "react-router-dom";
import type { RunSummary } from "../../../api/types";
import { StatusBadge } from "../../../components/StatusBadge";
import { CauseBadge } from "../FailureCause";
import { formatDuration, formatFullDateTime, formatRelative } from "../../../lib/format";
import { runDuration, runTitle } from "../../../lib/runs";
import { useNow } from "../../../lib/useNow";
import { cellValue, formatCell, nextOrdering, sortDirection, type Column } from "./columns";

export interface WorkbenchTableProps {
  rows: RunSummary[];
  columns: Column[];
  ordering: string;
  onOrder: (ordering: string) => void;
  selected: ReadonlySet<number>;
  onSelect: (ids: number[], selected: boolean) => void;
  busy: boolean;
}

/** The run list: fixed columns, the user's chosen metric/parameter/tag/property columns, sortable headers and a selection. */
export function WorkbenchTable({ rows, columns, ordering, onOrder, selected, onSelect, busy }: WorkbenchTableProps) {
  const now = useNow(rows.some((r) => r.running_at && !r.ended_at));
  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));
  const created = ordering === "created_at" ? "ascending" : ordering === "-created_at" || ordering === "" ? "descending" : "none";
  return (
    <div className={`table-wrap ${busy ? "is-busy" : ""}`}>
      <table className="table runs-table">
        <thead>
          <tr>
            <th scope="col" className="select-cell">
              <input
                type="checkbox"
                aria-label="Select all runs on this page"
                checked={allSelected}
                onChange={(e) => onSelect(rows.map((r) => r.id), e.target.checked)}
              />
            </th>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Experiment</th>
            <th scope="col" className="hide-sm">Script</th>
            <th scope="col" className="hide-sm">Compute</th>
            <th scope="col" className="hide-md">Environment</th>
            <th scope="col" className="hide-sm">By</th>
            <th scope="col" aria-sort={created}>
              <button
                type="button"
                className="sort-button"
                onClick={() => onOrder(created === "descending" ? "created_at" : "")}
              >
                Submitted {created === "descending" ? "↓" : created === "ascending" ? "↑" : ""}
              </button>
            </th>
            <th scope="col" className="num">Duration</th>
            {columns.map((column) => {
              const direction = sortDirection(ordering, column.id);
              return (
                <th key={column.id} scope="col" className={column.numeric ? "num" : undefined} aria-sort={direction}>
                  <button
                    type="button"
                    className="sort-button"
                    aria-label={`Sort by ${column.label}`}
                    onClick={() => onOrder(nextOrdering(ordering, column.id))}
                  >
                    {column.label} {direction === "descending" ? "↓" : direction === "ascending" ? "↑" : ""}
                  </button>
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((run) => (
            <tr key={run.id} data-run-id={run.id} className={selected.has(run.id) ? "row-selected" : undefined}>
              <td className="select-cell">
                <input
                  type="checkbox"
                  aria-label={`Select run ${run.id}`}
                  checked={selected.has(run.id)}
                  onChange={(e) => onSelect([run.id], e.target.checked)}
                />
              </td>
              <td>
                <Link to={`/runs/${run.id}`} className="run-link">
                  <span className="run-id">#{run.id}</span> {runTitle(run)}
                </Link>
                {run.archived_at && <span className="chip">archived</span>}
                {run.parent != null && (
                  <div className="muted small">
                    child of <Link to={`/runs/${run.parent}`}>#{run.parent}</Link>
                  </div>
                )}
                {Object.keys(run.tags).length > 0 && (
                  <div className="tag-row">
                    {Object.entries(run.tags)
                      .slice(0, 3)
                      .map(([k, v]) => (
                        <span key={k} className="chip">
                          {v ? `${k}=${v}` : k}
                        </span>
                      ))}
                  </div>
                )}
              </td>
              <td>
                <StatusBadge status={run.status} queuePosition={run.queue_position} /> <CauseBadge cause={run.cause} />
              </td>
              <td>{run.experiment}</td>
              <td className="hide-sm mono">{run.script || run.command.join(" ")}</td>
              <td className="hide-sm">{run.compute_target}</td>
              <td className="hide-md">{run.environment}</td>
              <td className="hide-sm">{run.submitted_by}</td>
              <td title={formatFullDateTime(run.created_at)}>{formatRelative(run.created_at, now)}</td>
              <td className="num">{formatDuration(runDuration(run, now))}</td>
              {columns.map((column) => {
                const value = cellValue(run, column);
                return (
                  <td key={column.id} className={column.numeric ? "num" : "mono"} data-column={column.id}>
                    {formatCell(value)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
