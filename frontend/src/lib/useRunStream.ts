import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import type { LogLine, MetricPoint, RunDetail, RunStatusPayload } from "../api/types";
import { LogBuffer } from "./logBuffer";
import { MetricStore } from "./metricSeries";

export type StreamState = "connecting" | "live" | "reconnecting" | "closed";

export function websocketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}`;
}

/** runs/metricstore.py publishes only the last 500 points of each stored batch. */
const LIVE_METRICS_CAP = 500;

/** The close codes the server uses for "not signed in" / "not yours": retrying cannot help. */
const FINAL_CLOSE_CODES = new Set([4401, 4403]);

/**
 * One websocket per open run page carrying its log, status and metrics.
 *
 * Log lines and metric points go into mutable buffers (no React state per line); a
 * render is scheduled at most once per animation frame, which keeps the page smooth at
 * tens of thousands of lines per second. On a dropped connection it reconnects with
 * ?after=<last seq held>, so nothing is missed or repeated.
 */
export function useRunStream(runId: number) {
  const queryClient = useQueryClient();
  const logs = useRef(new LogBuffer()).current;
  const metrics = useRef(new MetricStore()).current;
  const [, setTick] = useState(0);
  const [state, setState] = useState<StreamState>("connecting");
  const [metricsLoaded, setMetricsLoaded] = useState(false);

  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let retry = 0;
    let retryTimer: number | undefined;
    let frame: number | undefined;

    const scheduleRender = () => {
      if (frame !== undefined) return;
      frame = window.requestAnimationFrame(() => {
        frame = undefined;
        setTick((t) => t + 1);
      });
    };

    const applyStatus = (run: RunStatusPayload) => {
      queryClient.setQueryData<RunDetail>(["run", runId], (old) => (old ? { ...old, ...run } : old));
      void queryClient.invalidateQueries({ queryKey: ["run", runId], exact: true });
      void queryClient.invalidateQueries({ queryKey: ["run", runId, "status-history"] });
      void queryClient.invalidateQueries({ queryKey: ["run", runId, "processes"] });
      if (run.status === "Completed" || run.status === "Failed" || run.status === "Canceled") {
        void queryClient.invalidateQueries({ queryKey: ["run", runId, "artifacts"] });
      }
    };

    const connect = () => {
      socket = new WebSocket(websocketUrl(`/ws/runs/${runId}/?after=${logs.lastSeq}`));
      socket.onopen = () => {
        retry = 0;
        setState("live");
      };
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data as string) as
          | { type: "logs"; lines: LogLine[] }
          | { type: "status"; run: RunStatusPayload }
          | { type: "metrics"; points: MetricPoint[] }
          | { type: "pong" };
        if (message.type === "logs") {
          if (logs.append(message.lines)) scheduleRender();
        } else if (message.type === "metrics") {
          metrics.addLive(message.points);
          // The server forwards at most the last LIVE_METRICS_CAP points of a batch: fetch the rest.
          if (message.points.length >= LIVE_METRICS_CAP) refetchMetricsSoon();
          scheduleRender();
        } else if (message.type === "status") {
          applyStatus(message.run);
        }
      };
      socket.onclose = (event) => {
        socket = null;
        if (stopped) return;
        if (FINAL_CLOSE_CODES.has(event.code)) {
          setState("closed");
          return;
        }
        setState("reconnecting");
        retry += 1;
        retryTimer = window.setTimeout(connect, Math.min(10_000, 500 * 2 ** Math.min(retry, 5)));
      };
    };

    const loadMetrics = () =>
      api<Record<string, MetricPoint[]>>(`/api/runs/${runId}/metrics/`)
        .then((grouped) => {
          if (stopped) return;
          metrics.addGrouped(grouped);
          setMetricsLoaded(true);
          scheduleRender();
        })
        .catch(() => setMetricsLoaded(true));
    let metricsTimer: number | undefined;
    const refetchMetricsSoon = () => {
      window.clearTimeout(metricsTimer);
      metricsTimer = window.setTimeout(loadMetrics, 1000);
    };

    connect();
    // The socket carries only new points; the ones logged before the page opened come from REST.
    void loadMetrics();

    return () => {
      stopped = true;
      window.clearTimeout(retryTimer);
      window.clearTimeout(metricsTimer);
      if (frame !== undefined) window.cancelAnimationFrame(frame);
      closeQuietly(socket);
    };
  }, [runId, queryClient, logs, metrics]);

  return { logs, metrics, state, metricsLoaded, logVersion: logs.version, metricsVersion: metrics.version };
}

/**
 * Closes a socket without the browser's "closed before the connection is established"
 * console error: one still connecting is closed as soon as it opens.
 */
export function closeQuietly(socket: WebSocket | null): void {
  if (!socket) return;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = null;
  if (socket.readyState === WebSocket.CONNECTING) socket.onopen = () => socket.close();
  else {
    socket.onopen = null;
    socket.close();
  }
}
