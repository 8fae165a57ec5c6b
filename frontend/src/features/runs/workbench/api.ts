import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, buildQuery } from "../../../api/client";
import type { components } from "../../../api/schema";
import type { Page, RunStatus, RunSummary } from "../../../api/types";

type Schemas = components["schemas"];
export type BulkAction = Schemas["BulkActionEnum"];
export type BulkResult = Schemas["BulkResult"];
export type RunKeys = Schemas["RunKeys"];

/** The run list's query, as the server takes it (see runs.workbench for the grammar). */
export interface WorkbenchQuery {
  status: RunStatus[];
  experiment: string;
  compute_target: string;
  submitted_by: string;
  environment: string;
  tag: string;
  property: string;
  /** Only the child runs of this run (an id; empty: every run). */
  parent: string;
  /** Only runs that ended with this failure cause (runs.causes). */
  cause: string;
  q: string;
  ordering: string;
  conditions: { param: string; value: string }[];
  archived: boolean;
}

export function runsPath(query: WorkbenchQuery): string {
  const params = new URLSearchParams(
    buildQuery({
      status: query.status,
      experiment: query.experiment,
      compute_target: query.compute_target,
      submitted_by: query.submitted_by,
      environment: query.environment,
      tag: query.tag,
      property: query.property,
      parent: query.parent,
      cause: query.cause,
      q: query.q,
      ordering: query.ordering === "-created_at" ? undefined : query.ordering,
      archived: query.archived ? "true" : undefined,
      limit: 50,
    }).slice(1),
  );
  for (const c of query.conditions) params.append(c.param, c.value);
  const text = params.toString();
  return `/api/runs/${text ? `?${text}` : ""}`;
}

export function useWorkbenchRuns(query: WorkbenchQuery, cursorPath: string | null) {
  const path = cursorPath ?? runsPath(query);
  return useQuery({
    queryKey: ["runs", path],
    queryFn: ({ signal }) => api<Page<RunSummary>>(path, { signal }),
    placeholderData: keepPreviousData,
  });
}

export function useRunKeys(experimentId: number | null, enabled: boolean) {
  return useQuery({
    queryKey: ["run-keys", experimentId],
    queryFn: () => api<RunKeys>(`/api/runs/keys/${buildQuery({ experiment: experimentId })}`),
    enabled,
    staleTime: 30_000,
  });
}

/** The user's saved columns for this list (server-side, so they follow the user across browsers). */
export function useSavedColumns(experimentId: number | null, enabled = true) {
  return useQuery({
    enabled,
    queryKey: ["run-columns", experimentId],
    queryFn: () => api<Schemas["Columns"]>(`/api/runs/columns/${buildQuery({ experiment: experimentId })}`),
    staleTime: 5 * 60_000,
  });
}

export function useSaveColumns(experimentId: number | null) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (columns: string[]) =>
      api<Schemas["Columns"]>("/api/runs/columns/", { method: "PUT", json: { experiment: experimentId, columns } }),
    onMutate: (columns) => client.setQueryData(["run-columns", experimentId], { experiment: experimentId, columns }),
    onSuccess: (saved) => client.setQueryData(["run-columns", experimentId], saved),
  });
}

export function useBulkAction() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["BulkRequest"]) => api<BulkResult>("/api/runs/bulk/", { json: body }),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["runs"] });
      void client.invalidateQueries({ queryKey: ["run-keys"] });
    },
  });
}
