import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: number[];
}

const COLORS = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

/** Several series over time on one uPlot chart (LineChart draws one): the queue timeline. */
export function SeriesChart({ title, times, series, height = 200 }: { title: string; times: number[]; series: Series[]; height?: number }) {
  const container = useRef<HTMLDivElement>(null);
  const key = series.map((s) => s.label).join("\u0000");
  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height,
        legend: { show: true },
        scales: { x: { time: true } },
        axes: [{ stroke: "#64748b" }, { stroke: "#64748b", size: 40, incrs: [1, 2, 5, 10, 20, 50, 100] }],
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2 }))],
      },
      [times, ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
    // Rebuilt when the set of series or the data changes; the timeline refreshes every 30 s.
  }, [key, times, series, height]);
  return <div ref={container} className="chart" role="img" aria-label={title} />;
}
