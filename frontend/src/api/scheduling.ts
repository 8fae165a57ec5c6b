import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "./client";
import type { Page, QueueBoard, QueueTimeline, RunDetail, TeamQuota, UsageRow } from "./types";

export function useQueueBoard(targetId: number) {
  return useQuery({
    queryKey: ["schedule", targetId],
    queryFn: () => api<QueueBoard>(`/api/schedule/${targetId}/`),
    refetchInterval: 5000,
  });
}

export function useQueueTimeline(targetId: number, hours: number) {
  return useQuery({
    queryKey: ["schedule", targetId, "timeline", hours],
    queryFn: () => api<QueueTimeline>(`/api/schedule/${targetId}/timeline/?hours=${hours}&points=60`),
    refetchInterval: 30_000,
  });
}

export function useTeamQuotas() {
  return useQuery({
    queryKey: ["team-quotas"],
    queryFn: async () => (await api<Page<TeamQuota>>("/api/team-quotas/?limit=500")).results,
  });
}

export type QuotaInput = Pick<TeamQuota, "team" | "compute_target" | "share" | "max_runs" | "max_gpus" | "max_priority">;

export function useSaveQuota() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, ...body }: QuotaInput & { id?: number }) =>
      api<TeamQuota>(id ? `/api/team-quotas/${id}/` : "/api/team-quotas/", { method: id ? "PATCH" : "POST", json: body }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["team-quotas"] });
      void queryClient.invalidateQueries({ queryKey: ["schedule"] });
    },
  });
}

export function useSetPriority(runId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (priority: string) => api<RunDetail>(`/api/runs/${runId}/priority/`, { method: "POST", json: { priority } }),
    onSuccess: (run) => queryClient.setQueryData(["run", runId], run),
  });
}

export function usageQuery(groupBy: string, days: number): string {
  const since = new Date(Date.now() - days * 86_400_000).toISOString();
  return `group_by=${encodeURIComponent(groupBy)}&since=${encodeURIComponent(since)}`;
}

export function useUsage(groupBy: string, days: number) {
  return useQuery({
    queryKey: ["usage", groupBy, days],
    queryFn: () => api<UsageRow[]>(`/api/usage/?${usageQuery(groupBy, days)}`),
  });
}
