import { useMemo, useState } from "react";
import { useArtifacts } from "../../api/queries";
import { EmptyState, ErrorNotice, Spinner } from "../../components/Feedback";
import { RegisterModelForm } from "../models/RegisterModelForm";
import { RunModels } from "../models/RunModels";
import { FileBrowser, type FileSource } from "./FileBrowser";

async function fetchBlob(url: string): Promise<Blob> {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`Could not read the file (HTTP ${response.status}).`);
  return response.blob();
}

export function ArtifactsPanel({ runId, finished }: { runId: number; finished: boolean }) {
  const artifacts = useArtifacts(runId);
  const [registering, setRegistering] = useState(false);
  const source = useMemo<FileSource | null>(() => {
    if (!artifacts.data) return null;
    const url = (path: string) => `/api/runs/${runId}/artifacts/download/?path=${encodeURIComponent(path)}`;
    return {
      files: artifacts.data.map((a) => ({ path: a.path, size: a.size })),
      read: (path) => fetchBlob(url(path)),
      downloadUrl: url,
      folderZipUrl: (folder) => `/api/runs/${runId}/artifacts/zip/${folder ? `?prefix=${encodeURIComponent(folder)}` : ""}`,
    };
  }, [artifacts.data, runId]);
  if (artifacts.isPending) return <Spinner label="Loading artifacts…" />;
  if (artifacts.isError) return <ErrorNotice error={artifacts.error} onRetry={() => void artifacts.refetch()} />;
  if (!source || !source.files.length)
    return (
      <EmptyState title={finished ? "No artifacts" : "No artifacts yet"}>
        Files your script writes under <code>outputs/</code> are collected when the run finishes and appear here.
      </EmptyState>
    );
  return (
    <div className="stack">
      <div className="toolbar">
        {!registering && (
          <button type="button" className="btn btn-primary" onClick={() => setRegistering(true)}>
            Register model
          </button>
        )}
      </div>
      {registering && <RegisterModelForm runId={runId} artifacts={artifacts.data} onClose={() => setRegistering(false)} />}
      <RunModels runId={runId} />
      <FileBrowser source={source} label="Artifacts" />
    </div>
  );
}
