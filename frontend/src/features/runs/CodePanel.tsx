import { useQuery } from "@tanstack/react-query";
import { unzipSync } from "fflate";
import { useMemo } from "react";
import { EmptyState, ErrorNotice, Spinner } from "../../components/Feedback";
import { formatBytes } from "../../lib/format";
import { FileBrowser, type FileSource } from "./FileBrowser";

/** Snapshots are capped on the server (200 MB by default); past this the tab offers the zip only. */
const BROWSE_LIMIT = 50 * 1024 * 1024;

/** The run's code snapshot (GET /api/runs/{id}/snapshot/, a zip) unpacked in the browser. */
export function CodePanel({ runId, snapshotSize, script }: { runId: number; snapshotSize: number; script: string }) {
  const url = `/api/runs/${runId}/snapshot/`;
  const big = snapshotSize > BROWSE_LIMIT;
  const snapshot = useQuery({
    queryKey: ["run", runId, "snapshot-files"],
    enabled: !big,
    staleTime: Infinity, // a snapshot never changes
    queryFn: async () => {
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`Could not load the snapshot (HTTP ${response.status}).`);
      const entries = unzipSync(new Uint8Array(await response.arrayBuffer()));
      return Object.entries(entries).filter(([path]) => !path.endsWith("/"));
    },
  });
  const source = useMemo<FileSource | null>(() => {
    if (!snapshot.data) return null;
    const contents = new Map(snapshot.data);
    return {
      files: snapshot.data.map(([path, bytes]) => ({ path, size: bytes.length })),
      read: async (path) => new Blob([contents.get(path) ?? new Uint8Array()]),
      downloadUrl: () => null,
    };
  }, [snapshot.data]);
  const download = (
    <a className="btn btn-small" href={url} download data-testid="snapshot-zip">
      Download snapshot (zip)
    </a>
  );
  if (big)
    return (
      <EmptyState title="Snapshot too large to browse here" action={download}>
        It is {formatBytes(snapshotSize)}; download the zip to look at it.
      </EmptyState>
    );
  if (snapshot.isPending) return <Spinner label="Loading the code snapshot…" />;
  if (snapshot.isError) return <ErrorNotice error={snapshot.error} onRetry={() => void snapshot.refetch()} />;
  if (!source || !source.files.length) return <EmptyState title="The snapshot is empty" action={download} />;
  return (
    <>
      <div className="toolbar">
        <span className="muted">The code this run ran, as submitted.</span>
        <span className="spacer" />
        {download}
      </div>
      <FileBrowser source={source} label="Code snapshot" initial={source.files.some((f) => f.path === script) ? script : undefined} />
    </>
  );
}
