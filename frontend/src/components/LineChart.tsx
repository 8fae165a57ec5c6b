import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { tickLabels } from "../lib/metricViews";

export const SERIES_COLORS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777"];

export interface ChartSeries {
  label: string;
  values: (number | null)[];
}

export interface LineChartProps {
  title: string;
  xs: number[];
  /** One shared x column; several series overlay (train/val). A single `ys` is one series. */
  series?: ChartSeries[];
  ys?: (number | null)[];
  xIsTime: boolean;
  xLabel: string;
  logY?: boolean;
  height?: number;
  /** Set to the live plot so a card can export it (PNG) or reset its zoom. */
  plotRef?: { current: uPlot | null };
}

/**
 * uPlot: canvas-drawn and built for streaming, so a chart with tens of thousands of
 * points redraws in a few milliseconds. The plot is created once per axis kind, series
 * set and scale, and fed new columns with setData; a ResizeObserver keeps it as wide as
 * its card. Drag across it to zoom into a range of x; double-click to zoom back out.
 */
export function LineChart({ title, xs, series, ys, xIsTime, xLabel, logY = false, height = 220, plotRef }: LineChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const lines: ChartSeries[] = series ?? [{ label: title, values: ys ?? [] }];
  const data = [xs, ...lines.map((s) => s.values)] as uPlot.AlignedData;
  const latest = useRef(data);
  latest.current = data;
  const labels = lines.map((s) => s.label).join("\u0000");

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const few = latest.current[0].length < 60;
    const options: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: xIsTime }, y: logY ? { distr: 3 } : {} },
      axes: [
        {
          label: xLabel,
          // Steps are whole numbers: never label 0.5.
          ...(xIsTime ? {} : { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 1e6] }),
          stroke: "#64748b",
          grid: { stroke: "#eef2f7" },
          ticks: { stroke: "#e2e8f0" },
        },
        {
          stroke: "#64748b",
          grid: { stroke: "#eef2f7" },
          ticks: { stroke: "#e2e8f0" },
          size: 60,
          // Decimals from the tick spacing: a narrow range never repeats one label.
          values: (_u, ticks, _axis, _space, increment) => tickLabels(ticks, increment),
        },
      ],
      series: [
        { label: xLabel },
        ...labels.split("\u0000").map((label, i) => ({
          label,
          stroke: SERIES_COLORS[i % SERIES_COLORS.length],
          width: 2,
          spanGaps: true,
          ...(i === 0 && labels.indexOf("\u0000") < 0 ? { fill: "rgba(37, 99, 235, 0.08)" } : {}),
          points: { show: few, size: 5 },
        })),
      ],
    };
    plot.current = new uPlot(options, latest.current, el);
    if (plotRef) plotRef.current = plot.current;
    const resize = new ResizeObserver(() => {
      plot.current?.setSize({ width: Math.max(200, el.clientWidth), height });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
      if (plotRef) plotRef.current = null;
    };
  }, [title, xIsTime, xLabel, height, logY, labels, plotRef]);

  // data is rebuilt every render; redraw only when one of its columns is a new array.
  const drawn = useRef<uPlot.AlignedData | null>(null);
  useEffect(() => {
    const before = drawn.current;
    const changed = !before || before.length !== data.length || data.some((column, i) => column !== before[i]);
    if (changed && plot.current) {
      plot.current.setData(data);
      drawn.current = data;
    }
  });

  return (
    <div ref={container} className="chart" role="img" aria-label={`${title} by ${xLabel}, ${xs.length} points`} />
  );
}

/** The plot's canvas as a PNG on a white background (the canvas itself is transparent). */
export function plotPng(plot: uPlot): Promise<Blob | null> {
  const source = plot.ctx.canvas;
  const canvas = document.createElement("canvas");
  canvas.width = source.width;
  canvas.height = source.height;
  const ctx = canvas.getContext("2d");
  if (!ctx) return Promise.resolve(null);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(source, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}
