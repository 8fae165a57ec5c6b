import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface LineChartProps {
  title: string;
  xs: number[];
  ys: number[];
  xIsTime: boolean;
  xLabel: string;
  height?: number;
}

/**
 * uPlot: canvas-drawn and built for streaming, so a chart with tens of thousands of
 * points redraws in a few milliseconds. The plot is created once per axis kind and
 * fed new columns with setData; a ResizeObserver keeps it as wide as its card.
 */
export function LineChart({ title, xs, ys, xIsTime, xLabel, height = 220 }: LineChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef<[number[], number[]]>([xs, ys]);
  latest.current = [xs, ys];

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const options: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: xIsTime } },
      axes: [
        {
          label: xLabel,
          // Steps are whole numbers: never label 0.5.
          ...(xIsTime ? {} : { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 1e6] }),
          stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" } },
        { stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" }, size: 60 },
      ],
      series: [
        { label: xLabel },
        {
          label: title,
          stroke: "#2563eb",
          width: 2,
          fill: "rgba(37, 99, 235, 0.08)",
          points: { show: latest.current[0].length < 60, size: 5 },
        },
      ],
    };
    plot.current = new uPlot(options, latest.current, el);
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(200, el.clientWidth), height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [title, xIsTime, xLabel, height]);

  useEffect(() => {
    plot.current?.setData([xs, ys]);
  }, [xs, ys]);

  return <div ref={container} className="chart" role="img" aria-label={`${title} by ${xLabel}, ${xs.length} points`} />;
}
