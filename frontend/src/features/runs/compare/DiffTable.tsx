import type { DiffRow } from "./compareData";

/** Key rows × run columns; rows where the runs differ are highlighted (or shown alone). */
export function DiffTable({
  rows,
  runLabels,
  onlyDifferences,
  empty,
  caption,
}: {
  rows: DiffRow[];
  runLabels: string[];
  onlyDifferences: boolean;
  empty: string;
  caption: string;
}) {
  const shown = onlyDifferences ? rows.filter((r) => r.differs) : rows;
  if (shown.length === 0) return <p className="muted">{rows.length && onlyDifferences ? "No differences." : empty}</p>;
  return (
    <div className="table-wrap">
      <table className="table table-compact compare-table">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            {runLabels.map((label) => (
              <th key={label} scope="col">
                {label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((row) => (
            <tr key={row.key} className={row.differs ? "differs" : undefined} data-differs={row.differs || undefined}>
              <th scope="row" className="mono">
                {row.key}
              </th>
              {row.values.map((value, i) => (
                <td key={i} className="mono">
                  {value ?? <span className="muted">–</span>}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
