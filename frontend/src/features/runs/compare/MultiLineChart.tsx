import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  color: string;
}

/**
 * Several runs' series of one metric on one uPlot chart, one line per run and a legend with
 * the runs' names. ``data`` is aligned (one x column: see alignSeries); gaps are bridged.
 */
export function MultiLineChart({
  title,
  data,
  series,
  height = 240,
  onDrawn,
}: {
  title: string;
  data: uPlot.AlignedData;
  series: ChartSeries[];
  height?: number;
  onDrawn?: () => void;
}) {
  const container = useRef<HTMLDivElement>(null);
  const latest = useRef(data);
  latest.current = data;
  const drawn = useRef(onDrawn);
  drawn.current = onDrawn;
  const seriesKey = series.map((s) => `${s.label}|${s.color}`).join(";");

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const few = (latest.current[0]?.length ?? 0) < 60;
    const plot = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height,
        legend: { show: true, live: true },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: false } },
        axes: [
          { label: "step", stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" } },
          { stroke: "#64748b", grid: { stroke: "#eef2f7" }, ticks: { stroke: "#e2e8f0" }, size: 60 },
        ],
        series: [
          { label: "step" },
          ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, spanGaps: true, points: { show: few, size: 4 } })),
        ],
        hooks: { draw: [() => drawn.current?.()] },
      },
      latest.current,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(240, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
    // A new plot when the runs change; data changes alone would use setData, but compare data is static.
  }, [seriesKey, height, data]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <div
      ref={container}
      className="chart"
      role="img"
      aria-label={`${title} by step for ${series.length} runs`}
      data-testid={`compare-chart-${title}`}
    />
  );
}
