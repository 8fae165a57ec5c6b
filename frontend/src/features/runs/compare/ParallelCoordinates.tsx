import { useState } from "react";
import { formatNumber, type ParallelData } from "./compareData";

const WIDTH = 900;
const HEIGHT = 300;
const PAD = { top: 28, bottom: 34, left: 60, right: 60 };

/** Parameters → metric as parallel axes (SVG); hover a line to pick out its run. */
export function ParallelCoordinates({
  data,
  colors,
  labels,
}: {
  data: ParallelData;
  colors: string[];
  labels: string[];
}) {
  const [hover, setHover] = useState<number | null>(null);
  const n = data.axes.length;
  if (n < 2) return <p className="muted">The runs' parameters do not differ: nothing to plot against the metric.</p>;
  const x = (i: number) => PAD.left + (i * (WIDTH - PAD.left - PAD.right)) / (n - 1);
  const y = (p: number) => HEIGHT - PAD.bottom - p * (HEIGHT - PAD.top - PAD.bottom);
  return (
    <svg
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      className="parallel"
      role="img"
      aria-label={`Parallel coordinates: ${data.axes.map((a) => a.label).join(", ")}`}
    >
      {data.lines.map((line, r) => {
        const segments: string[] = [];
        let open = false;
        line.positions.forEach((p, i) => {
          if (p === null) {
            open = false;
            return;
          }
          segments.push(`${open ? "L" : "M"}${x(i).toFixed(1)},${y(p).toFixed(1)}`);
          open = true;
        });
        return (
          <path
            key={line.run}
            d={segments.join(" ")}
            fill="none"
            stroke={colors[r]}
            strokeWidth={hover === r ? 4 : 2}
            opacity={hover === null || hover === r ? 0.9 : 0.2}
            onMouseEnter={() => setHover(r)}
            onMouseLeave={() => setHover(null)}
          >
            <title>{labels[r]}</title>
          </path>
        );
      })}
      {data.axes.map((axis, i) => (
        <g key={axis.key}>
          <line x1={x(i)} x2={x(i)} y1={PAD.top} y2={HEIGHT - PAD.bottom} stroke="#94a3b8" />
          <text x={x(i)} y={16} textAnchor="middle" className="parallel-label">
            {axis.label}
            {axis.log ? " (log)" : ""}
          </text>
          {axis.kind === "number" ? (
            <>
              <text x={x(i) + 4} y={y(1) + 4} className="parallel-tick">
                {formatNumber(axis.max)}
              </text>
              <text x={x(i) + 4} y={y(0) + 4} className="parallel-tick">
                {formatNumber(axis.min)}
              </text>
            </>
          ) : (
            axis.categories.map((c, k) => (
              <text
                key={c}
                x={x(i) + 4}
                y={y(axis.categories.length === 1 ? 0.5 : k / (axis.categories.length - 1)) + 4}
                className="parallel-tick"
              >
                {c}
              </text>
            ))
          )}
        </g>
      ))}
    </svg>
  );
}
