import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "../../api/client";
import { useBuildsFor, useComputeTargets } from "../../api/queries";
import type { EnvironmentBuild, EnvironmentVersion, Page } from "../../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../../components/Feedback";
import { BuildLog } from "../BuildLog";

const RUNNING = new Set(["pending", "building"]);

/** A version's latest build (its status and log, live while it builds) and "Build now". */
export function BuildCard({ version }: { version: EnvironmentVersion }) {
  const builds = useBuildsFor(version.content_hash);
  const targets = useComputeTargets();
  const queryClient = useQueryClient();
  const [picked, setPicked] = useState("local");
  const enabled = (targets.data ?? []).filter((t) => t.enabled);
  // "local" unless it is gone or disabled; the server answers 400 naming the field otherwise.
  const target = enabled.length && !enabled.some((t) => t.name === picked) ? enabled[0].name : picked;
  const latest = builds.data?.results[0];
  const build = useMutation({
    mutationFn: () =>
      api<EnvironmentBuild>(`/api/environment-versions/${version.id}/build/`, {
        method: "POST",
        json: { compute_target: target },
      }),
    onSuccess: (row) => {
      // Shown at once (the list polls while it is pending or building), then refreshed.
      queryClient.setQueryData<Page<EnvironmentBuild>>(["builds", version.content_hash], (old) => ({
        count: (old?.count ?? 0) + (old?.results.some((b) => b.id === row.id) ? 0 : 1),
        next: old?.next ?? null,
        previous: old?.previous ?? null,
        results: [row, ...(old?.results ?? []).filter((b) => b.id !== row.id)],
      }));
      queryClient.setQueryData(["build", row.id], row);
      void queryClient.invalidateQueries({ queryKey: ["build", row.id, "log"] });
    },
  });
  const busy = build.isPending || (latest != null && RUNNING.has(latest.status));
  return (
    <section className="card" aria-label="Build">
      <h3 className="card-title">
        Build
        <span className="header-actions" style={{ marginLeft: "auto" }}>
          {enabled.length > 1 && (
            <label>
              <span className="sr-only">Build on</span>
              <select value={target} onChange={(e) => setPicked(e.target.value)} aria-label="Build on">
                {enabled.map((t) => (
                  <option key={t.id} value={t.name}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
          )}
          <button type="button" className="btn btn-small" onClick={() => build.mutate()} disabled={busy}>
            {build.isPending ? "Queuing…" : "Build now"}
          </button>
        </span>
      </h3>
      {build.isError && <ErrorNotice error={build.error} />}
      {builds.isPending ? (
        <Spinner />
      ) : builds.isError ? (
        <ErrorNotice error={builds.error} />
      ) : latest ? (
        <BuildLog buildId={latest.id} />
      ) : (
        <EmptyState title="Not built yet">
          Build it now, or the first run that uses it builds it; builds are shared by every version with the same
          packages.
        </EmptyState>
      )}
    </section>
  );
}
