import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface OverlaySeries {
  label: string;
  /** Interval (1-based) -> value: every child logged the metric its own number of times. */
  values: number[];
  highlight: boolean;
  faded: boolean;
}

const PALETTE = ["#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d", "#4f46e5", "#ca8a04", "#0d9488"];

/** Every child's primary metric on one uPlot chart, by interval; the best child drawn thick
 * and red, stopped children dashed. Rebuilt when the set of children changes, fed otherwise. */
export function OverlayChart({ metric, series, height = 280 }: { metric: string; series: OverlaySeries[]; height?: number }) {
  const container = useRef<HTMLDivElement>(null);
  const longest = Math.max(0, ...series.map((s) => s.values.length));
  const xs = Array.from({ length: longest }, (_, i) => i + 1);
  const data: uPlot.AlignedData = [xs, ...series.map((s) => xs.map((_, i) => s.values[i] ?? null))];
  const latest = useRef(data);
  latest.current = data;
  const shape = series.map((s) => `${s.label}:${s.highlight}:${s.faded}`).join("|");
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const options: uPlot.Options = {
      width: Math.max(240, el.clientWidth),
      height,
      legend: { show: true, live: true },
      scales: { x: { time: false } },
      axes: [
        { label: "interval", stroke: "#64748b", grid: { stroke: "#eef2f7" }, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
        { label: metric, stroke: "#64748b", grid: { stroke: "#eef2f7" }, size: 60 },
      ],
      series: [
        { label: "interval" },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.highlight ? "#dc2626" : PALETTE[i % PALETTE.length],
          width: s.highlight ? 3 : 1.5,
          dash: s.faded ? [4, 4] : undefined,
          spanGaps: false,
          points: { show: true, size: 4 },
        })),
      ],
    };
    plot.current = new uPlot(options, latest.current, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(240, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, metric, height]);

  useEffect(() => {
    plot.current?.setData(latest.current);
  });

  return (
    <div
      ref={container}
      className="chart"
      role="img"
      aria-label={`${metric} of ${series.length} children by interval`}
      data-testid="overlay-chart"
    />
  );
}
