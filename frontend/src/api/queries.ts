import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, ApiError, buildQuery, toPath } from "./client";
import type {
  Artifact,
  AuditEvent,
  BuildLogLine,
  ComputeTarget,
  Dataset,
  DatasetFile,
  DatasetVersion,
  Datastore,
  Environment,
  EnvironmentBuild,
  EnvironmentVersion,
  Experiment,
  PackageIndex,
  MetricSeries,
  ModelFilePreview,
  ModelVersion,
  ModelVersionDetail,
  Page,
  RegisteredModel,
  RunDetail,
  RunInput,
  RunProcess,
  RunSummary,
  SessionUser,
  StatusChange,
  Sweep,
  SweepChild,
  SweepSeries,
  SweepSummary,
} from "./types";
import { TERMINAL_STATUSES } from "./types";

export function useSession() {
  return useQuery({
    queryKey: ["session"],
    queryFn: async () => {
      try {
        // A signed-out answer may be a 401, or a 200/204 without a user.
        const body = await api<SessionUser | Record<string, unknown> | undefined>("/api/auth/session/");
        return body && "id" in body ? (body as SessionUser) : null;
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
        throw error;
      }
    },
    staleTime: 5 * 60_000,
  });
}

/** Lists that are small enough to fetch whole (the server pages them at up to 500). */
async function allPages<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  let next: string | null = path;
  for (let guard = 0; next && guard < 20; guard += 1) {
    const page: Page<T> = await api<Page<T>>(next);
    out.push(...page.results);
    next = page.next ? toPath(page.next) : null;
  }
  return out;
}

export function useRun(id: number, enabled = true) {
  return useQuery({ queryKey: ["run", id], queryFn: () => api<RunDetail>(`/api/runs/${id}/`), enabled: enabled && id > 0 });
}

/** A run's child runs (run.child_run() / create_children()), oldest first; polled while one
 * of them is still going. */
export function useRunChildren(id: number) {
  const path = `/api/runs/${buildQuery({ parent: id, ordering: "created_at", limit: 200 })}`;
  return useQuery({
    queryKey: ["run", id, "children"],
    queryFn: () => api<Page<RunSummary>>(path),
    refetchInterval: (query) =>
      query.state.data?.results.some((child) => !TERMINAL_STATUSES.includes(child.status)) ? 5000 : false,
  });
}

export function useStatusHistory(id: number) {
  return useQuery({
    queryKey: ["run", id, "status-history"],
    queryFn: () => api<StatusChange[]>(`/api/runs/${id}/status-history/`),
  });
}

export function useProcesses(id: number) {
  return useQuery({ queryKey: ["run", id, "processes"], queryFn: () => api<RunProcess[]>(`/api/runs/${id}/processes/`) });
}

export function useRunInputs(id: number) {
  return useQuery({ queryKey: ["run", id, "inputs"], queryFn: () => api<RunInput[]>(`/api/runs/${id}/inputs/`) });
}

export function useArtifacts(id: number) {
  return useQuery({ queryKey: ["run", id, "artifacts"], queryFn: () => api<Artifact[]>(`/api/runs/${id}/artifacts/`) });
}

export function useExperiments() {
  return useQuery({
    queryKey: ["experiments"],
    queryFn: () => allPages<Experiment>("/api/experiments/?limit=500"),
    staleTime: 60_000,
  });
}

export function useComputeTargets(options: { live?: boolean } = {}) {
  return useQuery({
    queryKey: ["compute-targets"],
    queryFn: () => allPages<ComputeTarget>("/api/compute-targets/?limit=500"),
    refetchInterval: options.live ? 5000 : false,
  });
}

export function usePackageIndexes() {
  return useQuery({ queryKey: ["package-indexes"], queryFn: () => allPages<PackageIndex>("/api/package-indexes/?limit=500") });
}

export function useEnvironments() {
  return useQuery({ queryKey: ["environments"], queryFn: () => allPages<Environment>("/api/environments/?limit=500") });
}

export function useEnvironment(id: number) {
  return useQuery({ queryKey: ["environment", id], queryFn: () => api<Environment>(`/api/environments/${id}/`) });
}

export function useEnvironmentVersions(id: number | null) {
  return useQuery({
    queryKey: ["environment", id, "versions"],
    queryFn: () => api<EnvironmentVersion[]>(`/api/environments/${id}/versions/`),
    enabled: id != null,
  });
}

export function useBuildsFor(contentHash: string | undefined) {
  return useQuery({
    queryKey: ["builds", contentHash],
    queryFn: () => api<Page<EnvironmentBuild>>(`/api/environment-builds/${buildQuery({ content_hash: contentHash })}`),
    enabled: !!contentHash,
    // Fast while a build runs; slowly otherwise, so a build a run starts shows up too.
    refetchInterval: (query) => {
      const latest = query.state.data?.results[0];
      return latest && (latest.status === "building" || latest.status === "pending") ? 1000 : 10000;
    },
  });
}

/** One build; polled while it is pending or building, so its status follows the build. */
export function useBuild(id: number | null) {
  return useQuery({
    queryKey: ["build", id],
    queryFn: () => api<EnvironmentBuild>(`/api/environment-builds/${id}/`),
    enabled: id != null,
    refetchInterval: (query) => {
      const status = query.state.data?.status;
      return status === "building" || status === "pending" ? 1000 : false;
    },
  });
}

export function useBuildLog(id: number | null, live: boolean) {
  return useQuery({
    queryKey: ["build", id, "log"],
    queryFn: () =>
      api<{ build: number; status: string; lines: BuildLogLine[] }>(`/api/environment-builds/${id}/log/?limit=10000`),
    enabled: id != null,
    refetchInterval: live ? 1000 : false,
  });
}

export function useDatastores() {
  return useQuery({ queryKey: ["datastores"], queryFn: () => allPages<Datastore>("/api/datastores/?limit=500") });
}

export function useDatasets() {
  return useQuery({ queryKey: ["datasets"], queryFn: () => allPages<Dataset>("/api/datasets/?limit=500") });
}

export function useDataset(id: number) {
  return useQuery({ queryKey: ["dataset", id], queryFn: () => api<Dataset>(`/api/datasets/${id}/`) });
}

export function useDatasetVersions(datasetId: number | null) {
  return useQuery({
    queryKey: ["dataset", datasetId, "versions"],
    queryFn: () => allPages<DatasetVersion>(`/api/dataset-versions/?dataset=${datasetId}&limit=500`),
    enabled: datasetId != null,
  });
}

/** A version's files come with its detail; null when this server's detail has no file list. */
export function useDatasetFiles(versionId: number | null) {
  return useQuery({
    queryKey: ["dataset-version", versionId, "files"],
    queryFn: async () => {
      const detail = await api<DatasetVersion & { files?: DatasetFile[] }>(`/api/dataset-versions/${versionId}/`);
      return detail.files ?? null;
    },
    enabled: versionId != null,
  });
}

export interface AuditFilters {
  actor: string;
  action: string;
  object_type: string;
  object_id: string;
  since: string;
  until: string;
}

export function useAuditEvents(filters: AuditFilters, pagePath: string | null) {
  const path = pagePath ?? `/api/audit/events/${buildQuery({ ...filters, limit: 50 })}`;
  return useQuery({
    queryKey: ["audit", path],
    queryFn: () => api<Page<AuditEvent>>(path),
    placeholderData: keepPreviousData,
  });
}

export function useModels() {
  return useQuery({ queryKey: ["models"], queryFn: () => allPages<RegisteredModel>("/api/models/?limit=500") });
}

/** Versions of one model (newest first), or the versions a run produced. */
export function useModelVersions(filter: { model?: number; run?: number }) {
  return useQuery({
    queryKey: ["model-versions", filter],
    queryFn: () => allPages<ModelVersion>(`/api/model-versions/${buildQuery({ ...filter, limit: 500 })}`),
    enabled: filter.model != null || filter.run != null,
  });
}

export function useModelVersion(id: number) {
  return useQuery({ queryKey: ["model-version", id], queryFn: () => api<ModelVersionDetail>(`/api/model-versions/${id}/`) });
}

export function useModelFilePreview(id: number, path: string | null) {
  return useQuery({
    queryKey: ["model-version", id, "preview", path],
    queryFn: () => api<ModelFilePreview>(`/api/model-versions/${id}/preview/${buildQuery({ path })}`),
    enabled: path != null,
    staleTime: Infinity, // a version's files never change
  });
}

export function useRunMetrics(runId: number | null) {
  return useQuery({
    queryKey: ["run", runId, "metrics"],
    queryFn: () => api<MetricSeries>(`/api/runs/${runId}/metrics/`),
    enabled: runId != null,
  });
}

/** While a sweep runs its page refreshes every SWEEP_POLL_MS (children come and go faster
 * than a per-child websocket would be worth). */
const SWEEP_POLL_MS = 2000;

export function useSweeps() {
  return useQuery({ queryKey: ["sweeps"], queryFn: () => api<SweepSummary[]>("/api/sweeps/") });
}

export function useSweep(id: number) {
  return useQuery({
    queryKey: ["sweep", id],
    queryFn: () => api<Sweep>(`/api/sweeps/${id}/`),
    refetchInterval: (query) => (query.state.data && query.state.data.ended_at ? false : SWEEP_POLL_MS),
  });
}

export function useSweepChildren(id: number, live: boolean) {
  return useQuery({
    queryKey: ["sweep", id, "children"],
    queryFn: () => api<SweepChild[]>(`/api/sweeps/${id}/children/`),
    refetchInterval: live ? SWEEP_POLL_MS : false,
  });
}

export function useSweepSeries(id: number, live: boolean) {
  return useQuery({
    queryKey: ["sweep", id, "metrics"],
    queryFn: () => api<SweepSeries[]>(`/api/sweeps/${id}/metrics/`),
    refetchInterval: live ? SWEEP_POLL_MS : false,
  });
}
