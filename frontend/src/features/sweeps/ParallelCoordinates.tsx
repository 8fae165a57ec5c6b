import { axisValues, wantsLogScale } from "../../lib/sweeps";

export interface ParallelRow {
  id: number;
  values: Record<string, unknown>;
  metric: number | null;
  best: boolean;
}

const H = 260;
const PAD = { top: 24, bottom: 28, side: 40 };

/** One vertical axis per parameter plus the primary metric; one polyline per child,
 * coloured from blue (worse) to red (better for the goal); the best child drawn black. */
export function ParallelCoordinates({
  parameters,
  metric,
  maximize,
  rows,
}: {
  parameters: string[];
  metric: string;
  maximize: boolean;
  rows: ParallelRow[];
}) {
  const scored = rows.filter((r) => r.metric != null);
  if (!scored.length) return <p className="muted">No child has logged {metric} yet.</p>;
  const axes = [...parameters, metric];
  // A wide canvas whatever the axis count: the SVG scales to the card's width.
  const width = Math.max(900, axes.length * 150);
  const x = (i: number) => PAD.side + (i * (width - 2 * PAD.side)) / Math.max(1, axes.length - 1);
  const columns = axes.map((name) => {
    const raw = scored.map((r) => (name === metric ? r.metric : r.values[name]));
    const { positions, labels } = axisValues(raw);
    const log = !labels && wantsLogScale(positions);
    const f = (v: number) => (log ? Math.log10(v) : v);
    const lo = Math.min(...positions.map(f));
    const hi = Math.max(...positions.map(f));
    const y = (v: number) => H - PAD.bottom - ((f(v) - lo) / (hi - lo || 1)) * (H - PAD.top - PAD.bottom);
    return { name, positions, labels, y, lo: Math.min(...positions), hi: Math.max(...positions) };
  });
  const metrics = scored.map((r) => r.metric as number);
  const [mlo, mhi] = [Math.min(...metrics), Math.max(...metrics)];
  const colour = (m: number) => {
    const t = (m - mlo) / (mhi - mlo || 1);
    const good = maximize ? t : 1 - t;
    return `hsl(${220 - good * 220}, 75%, 48%)`;
  };
  return (
    <div className="parallel-wrap">
      <svg
        viewBox={`0 0 ${width} ${H}`}
        className="parallel"
        role="img"
        aria-label={`Parallel coordinates of ${parameters.length} parameters and ${metric}`}
        data-testid="parallel-chart"
      >
        {scored.map((row, r) => (
          <polyline
            key={row.id}
            fill="none"
            stroke={row.best ? "#111827" : colour(row.metric as number)}
            strokeWidth={row.best ? 3 : 1.5}
            strokeOpacity={row.best ? 1 : 0.7}
            points={columns.map((c, i) => `${x(i)},${c.y(c.positions[r])}`).join(" ")}
          >
            <title>{`run ${row.id}: ${metric}=${row.metric}`}</title>
          </polyline>
        ))}
        {columns.map((c, i) => (
          <g key={c.name}>
            <line x1={x(i)} x2={x(i)} y1={PAD.top} y2={H - PAD.bottom} stroke="#94a3b8" />
            <text x={x(i)} y={14} textAnchor="middle" fontSize="12" fontWeight={600} fill="#334155">
              {c.name}
            </text>
            {c.labels ? (
              c.labels.map((label, k) => (
                <text key={label} x={x(i) + 4} y={c.y(k) + 4} fontSize="10" fill="#64748b">
                  {label}
                </text>
              ))
            ) : (
              <>
                <text x={x(i) + 4} y={H - PAD.bottom + 14} fontSize="10" fill="#64748b">
                  {+c.lo.toPrecision(3)}
                </text>
                <text x={x(i) + 4} y={PAD.top - 2} fontSize="10" fill="#64748b">
                  {+c.hi.toPrecision(3)}
                </text>
              </>
            )}
          </g>
        ))}
      </svg>
    </div>
  );
}
