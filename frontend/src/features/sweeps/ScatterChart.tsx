import { axisValues, wantsLogScale } from "../../lib/sweeps";

export interface ScatterPoint {
  id: number;
  x: unknown;
  y: number;
  best: boolean;
  stopped: boolean;
}

const W = 420;
const H = 260;
const PAD = { left: 56, right: 16, top: 12, bottom: 40 };

function scale(values: number[], log: boolean, from: number, to: number): (v: number) => number {
  const f = (v: number) => (log ? Math.log10(v) : v);
  const lo = Math.min(...values.map(f));
  const hi = Math.max(...values.map(f));
  const span = hi - lo || 1;
  return (v: number) => from + ((f(v) - lo) / span) * (to - from);
}

const fmt = (v: number) =>
  Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(+v.toPrecision(3));

/** The primary metric against one parameter, one dot per child (SVG: a few hundred dots at most). */
export function ScatterChart({ parameter, metric, points }: { parameter: string; metric: string; points: ScatterPoint[] }) {
  if (!points.length) return <p className="muted">No child has logged {metric} yet.</p>;
  const { positions, labels } = axisValues(points.map((p) => p.x));
  const log = !labels && wantsLogScale(positions);
  const xs = scale(positions, log, PAD.left, W - PAD.right);
  const yValues = points.map((p) => p.y);
  const ys = scale(yValues, false, H - PAD.bottom, PAD.top);
  const yTicks = [Math.min(...yValues), (Math.min(...yValues) + Math.max(...yValues)) / 2, Math.max(...yValues)];
  const xTicks = labels ? labels.map((_, i) => i) : [Math.min(...positions), Math.max(...positions)];
  return (
    <svg
      viewBox={`0 0 ${W} ${H}`}
      className="scatter"
      role="img"
      aria-label={`${metric} against ${parameter}, ${points.length} children`}
      data-testid="scatter-chart"
    >
      <line x1={PAD.left} x2={W - PAD.right} y1={H - PAD.bottom} y2={H - PAD.bottom} stroke="#cbd5e1" />
      <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={H - PAD.bottom} stroke="#cbd5e1" />
      {yTicks.map((t, i) => (
        <text key={`y${i}`} x={PAD.left - 6} y={ys(t) + 4} textAnchor="end" fontSize="11" fill="#64748b">
          {fmt(t)}
        </text>
      ))}
      {xTicks.map((t, i) => (
        <text key={`x${i}`} x={xs(t)} y={H - PAD.bottom + 16} textAnchor="middle" fontSize="11" fill="#64748b">
          {labels ? labels[t] : fmt(t)}
        </text>
      ))}
      <text x={(W + PAD.left) / 2} y={H - 6} textAnchor="middle" fontSize="12" fill="#334155">
        {parameter}
        {log ? " (log scale)" : ""}
      </text>
      {points.map((p, i) => (
        <circle
          key={p.id}
          cx={xs(positions[i])}
          cy={ys(p.y)}
          r={p.best ? 7 : 5}
          fill={p.best ? "#dc2626" : p.stopped ? "#f59e0b" : "#2563eb"}
          fillOpacity={0.8}
          stroke="#fff"
          data-testid="scatter-point"
        >
          <title>{`run ${p.id}: ${parameter}=${String(p.x)}, ${metric}=${p.y}`}</title>
        </circle>
      ))}
    </svg>
  );
}
