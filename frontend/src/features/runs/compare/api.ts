import { useQuery } from "@tanstack/react-query";
import { api } from "../../../api/client";
import type { components } from "../../../api/schema";

type Schemas = components["schemas"];

export function useCompare(ids: number[]) {
  const key = ids.join(",");
  return useQuery({
    queryKey: ["compare", key],
    queryFn: () => api<Schemas["Compare"]>(`/api/runs/compare/?ids=${key}`),
    enabled: ids.length > 0,
  });
}

/** Every scalar series of the runs, thinned by the server to what a chart this wide can show. */
export function useCompareSeries(ids: number[], maxPoints = 1000) {
  const key = ids.join(",");
  return useQuery({
    queryKey: ["compare", key, "series", maxPoints],
    queryFn: () => api<Schemas["SeriesPage"]>(`/api/runs/compare/series/?ids=${key}&max_points=${maxPoints}`),
    enabled: ids.length > 0,
  });
}

export function useCompareSnapshots(ids: number[], enabled: boolean) {
  const key = ids.join(",");
  return useQuery({
    queryKey: ["compare", key, "snapshots"],
    queryFn: () => api<Schemas["SnapshotDiff"]>(`/api/runs/compare/snapshots/?ids=${key}`),
    enabled: enabled && ids.length > 0,
  });
}
