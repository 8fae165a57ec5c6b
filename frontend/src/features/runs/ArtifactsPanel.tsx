import { useState } from "react";
import { useArtifacts } from "../../api/queries";
import { EmptyState, ErrorNotice, Spinner } from "../../components/Feedback";
import { formatBytes, formatDateTime } from "../../lib/format";
import { RegisterModelForm } from "../models/RegisterModelForm";
import { RunModels } from "../models/RunModels";

export function ArtifactsPanel({ runId, finished }: { runId: number; finished: boolean }) {
  const artifacts = useArtifacts(runId);
  const [registering, setRegistering] = useState(false);
  if (artifacts.isPending) return <Spinner label="Loading artifacts…" />;
  if (artifacts.isError) return <ErrorNotice error={artifacts.error} onRetry={() => void artifacts.refetch()} />;
  if (!artifacts.data.length)
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
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col" className="num">Size</th>
              <th scope="col" className="hide-sm">SHA-256</th>
              <th scope="col">Saved</th>
              <th scope="col">
                <span className="sr-only">Download</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {artifacts.data.map((artifact) => (
              <tr key={artifact.path}>
                <td className="mono">{artifact.path}</td>
                <td className="num">{formatBytes(artifact.size)}</td>
                <td className="hide-sm mono muted" title={artifact.sha256}>
                  {artifact.sha256.slice(0, 12)}
                </td>
                <td>{formatDateTime(artifact.created_at)}</td>
                <td>
                  <a
                    className="btn btn-small"
                    href={`/api/runs/${runId}/artifacts/download/?path=${encodeURIComponent(artifact.path)}`}
                    download
                  >
                    Download
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
