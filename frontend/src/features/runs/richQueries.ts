// Queries of the run page's diagnosis and browse cards, and the settings page's tokens.
import { useQuery } from "@tanstack/react-query";
import { api } from "../../api/client";
import type { components } from "../../api/schema";

type Schemas = components["schemas"];
export type Diagnosis = Schemas["Diagnosis"];
export type ApiToken = Schemas["Token"];
export type ApiTokenCreated = Schemas["TokenCreated"];

export function useDiagnosis(runId: number, enabled: boolean) {
  return useQuery({
    queryKey: ["run", runId, "diagnosis"],
    queryFn: () => api<Diagnosis>(`/api/runs/${runId}/diagnosis/`),
    enabled,
    staleTime: Infinity, // a finished run's log no longer changes
  });
}

export function useTokens() {
  return useQuery({
    queryKey: ["api-tokens"],
    queryFn: async () => {
      const body = await api<ApiToken[] | { results: ApiToken[] }>("/api/auth/tokens/");
      return Array.isArray(body) ? body : body.results;
    },
  });
}
