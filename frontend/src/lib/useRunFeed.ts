import { useQueryClient, type QueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { Page, RunStatusPayload, RunSummary } from "../api/types";
import { closeQuietly, websocketUrl } from "./useRunStream";

function patchRunLists(client: QueryClient, run: RunStatusPayload): boolean {
  let found = false;
  client.setQueriesData<Page<RunSummary>>({ queryKey: ["runs"] }, (page) => {
    if (!page || !page.results.some((row) => row.id === run.id)) return page;
    found = true;
    return {
      ...page,
      results: page.results.map((row) =>
        row.id === run.id ? { ...row, ...run, queue_position: run.status === "Queued" ? row.queue_position : null } : row,
      ),
    };
  });
  return found;
}

/**
 * Live statuses for the run list and the compute page, from /ws/runs/.
 *
 * A status message patches the row at once; the lists are then refetched (debounced)
 * because one run moving changes others' queue positions and new runs must appear.
 */
export function useRunFeed() {
  const client = useQueryClient();
  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let retry = 0;
    let refetchTimer: number | undefined;
    let retryTimer: number | undefined;

    const refetchSoon = () => {
      window.clearTimeout(refetchTimer);
      refetchTimer = window.setTimeout(() => {
        void client.invalidateQueries({ queryKey: ["runs"] });
        void client.invalidateQueries({ queryKey: ["compute-targets"] });
      }, 700);
    };

    const connect = () => {
      socket = new WebSocket(websocketUrl("/ws/runs/"));
      socket.onopen = () => {
        // Anything that changed while we were away shows up on the refetch.
        if (retry > 0) refetchSoon();
        retry = 0;
      };
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data as string) as { type: string; run?: RunStatusPayload };
        if (message.type !== "status" || !message.run) return;
        patchRunLists(client, message.run);
        client.setQueryData(["run", message.run.id], (old: object | undefined) =>
          old ? { ...old, ...message.run } : old,
        );
        refetchSoon();
      };
      socket.onclose = (event) => {
        socket = null;
        if (stopped || event.code === 4401) return;
        retry += 1;
        retryTimer = window.setTimeout(connect, Math.min(10_000, 500 * 2 ** Math.min(retry, 5)));
      };
    };
    connect();
    return () => {
      stopped = true;
      window.clearTimeout(refetchTimer);
      window.clearTimeout(retryTimer);
      closeQuietly(socket);
    };
  }, [client]);
}
