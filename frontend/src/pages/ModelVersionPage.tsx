import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, ApiError } from "../api/client";
import { useModelFilePreview, useModelVersion, useModelVersions, useRunMetrics } from "../api/queries";
import type { ModelFile, ModelVersion, ModelVersionDetail } from "../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { KeyValueEditor, type KeyValue } from "../components/KeyValueEditor";
import { LineChart } from "../components/LineChart";
import { formatBytes, formatDateTime } from "../lib/format";
import { formatMetric, previewable, seriesUntil } from "../lib/models";
import { useDocumentTitle } from "../lib/useDocumentTitle";

/** One model version: its files (with a preview), lineage and the producing run's metrics. */
export default function ModelVersionPage({ versionId }: { versionId: number }) {
  const version = useModelVersion(versionId);
  useDocumentTitle(version.data ? `${version.data.name}:${version.data.version}` : "Model");
  if (version.isPending) return <Spinner label="Loading model…" />;
  if (version.isError) return <ErrorNotice error={version.error} onRetry={() => void version.refetch()} />;
  const v = version.data;
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <div className="crumbs">
            <Link to="/models">Models</Link> / <span>{v.name}</span>
          </div>
          <h1>
            {v.name} <span className="chip chip-soft">v{v.version}</span>
            {v.framework && (
              <span className="chip">
                {v.framework} {v.framework_version}
              </span>
            )}
          </h1>
          <p className="muted">
            {v.description || "No description."} · registered {formatDateTime(v.created_at)}
            {v.created_by && ` by ${v.created_by}`} · {v.file_count} files, {formatBytes(v.total_size)} · team {v.team}
          </p>
          <OtherVersions version={v} />
        </div>
        <div className="header-actions">
          <a className="btn" href={`/api/model-versions/${v.id}/download/`} download>
            Download all (.tar)
          </a>
          <DeleteVersion version={v} />
        </div>
      </header>
      <div className="card-grid">
        <Lineage version={v} />
        <TagsCard version={v} />
      </div>
      <RunMetrics version={v} />
      <FilesCard version={v} />
    </section>
  );
}

function OtherVersions({ version }: { version: ModelVersionDetail }) {
  const versions = useModelVersions({ model: version.model });
  if (!versions.data || versions.data.length < 2) return null;
  return (
    <nav className="tag-row" aria-label="Versions">
      <span className="muted small">Versions:</span>
      {versions.data.map((other) =>
        other.id === version.id ? (
          <span key={other.id} className="chip chip-soft" aria-current="page">
            v{other.version}
          </span>
        ) : (
          <Link key={other.id} to={`/models/versions/${other.id}`} className="chip">
            v{other.version}
          </Link>
        ),
      )}
    </nav>
  );
}

function Lineage({ version }: { version: ModelVersion }) {
  return (
    <section className="card" aria-labelledby="lineage-title">
      <h2 className="card-title" id="lineage-title">
        Lineage
      </h2>
      <dl className="props">
        <dt>Produced by</dt>
        <dd>
          {version.run ? (
            <Link to={`/runs/${version.run}`}>
              run #{version.run}
              {version.experiment_name && ` (${version.experiment_name})`}
            </Link>
          ) : version.run_number ? (
            <span className="muted">run #{version.run_number} (deleted)</span>
          ) : (
            <span className="muted">uploaded files (no run)</span>
          )}
          {version.source_path && <span className="mono muted small"> {version.source_path}</span>}
        </dd>
        <dt>Environment</dt>
        <dd>
          {version.environment && version.environment_id ? (
            <Link to={`/environments/${version.environment_id}`}>{version.environment}</Link>
          ) : (
            <span className="muted">—</span>
          )}
        </dd>
        <dt>Datasets</dt>
        <dd>
          {version.datasets.length ? (
            version.datasets.map((d) => (
              <Link key={d.id} to={`/datasets/${d.dataset}`} className="chip chip-dataset">
                {d.name}:{d.version}
              </Link>
            ))
          ) : (
            <span className="muted">—</span>
          )}
        </dd>
        <dt>Registered</dt>
        <dd>
          {formatDateTime(version.created_at)} {version.created_by && `by ${version.created_by}`}
        </dd>
      </dl>
    </section>
  );
}

const toItems = (map: Record<string, string>): KeyValue[] => Object.entries(map).map(([key, value]) => ({ key, value }));

function TagsCard({ version }: { version: ModelVersion }) {
  const queryClient = useQueryClient();
  const [editing, setEditing] = useState<KeyValue[] | null>(null);
  const save = useMutation({
    mutationFn: (items: KeyValue[]) =>
      api<ModelVersion>(`/api/model-versions/${version.id}/`, {
        method: "PATCH",
        json: { tags: Object.fromEntries(items.filter((i) => i.key.trim()).map((i) => [i.key.trim(), i.value])) },
      }),
    onSuccess: () => {
      setEditing(null);
      void queryClient.invalidateQueries({ queryKey: ["model-version", version.id] });
      void queryClient.invalidateQueries({ queryKey: ["models"] });
    },
  });
  return (
    <section className="card" aria-labelledby="tags-title">
      <h2 className="card-title" id="tags-title">
        Tags and properties
      </h2>
      {editing ? (
        <>
          <KeyValueEditor items={editing} onChange={setEditing} keyLabel="Tag" valueLabel="Value" addLabel="Add tag" />
          {save.isError && <ErrorNotice error={save.error} />}
          <div className="form-actions">
            <button type="button" className="btn btn-primary" disabled={save.isPending} onClick={() => save.mutate(editing)}>
              Save tags
            </button>
            <button type="button" className="btn" onClick={() => setEditing(null)}>
              Cancel
            </button>
          </div>
        </>
      ) : (
        <>
          <div className="tag-row" data-testid="model-tags">
            {Object.keys(version.tags).length === 0 && <span className="muted">No tags.</span>}
            {Object.entries(version.tags).map(([k, v]) => (
              <span key={k} className="chip">
                {v ? `${k}=${v}` : k}
              </span>
            ))}
          </div>
          <button type="button" className="btn btn-small" onClick={() => setEditing(toItems(version.tags))}>
            Edit tags
          </button>
        </>
      )}
      <h3 className="card-title">Properties (add-only)</h3>
      <div className="tag-row">
        {Object.keys(version.properties).length === 0 && <span className="muted">No properties.</span>}
        {Object.entries(version.properties).map(([k, v]) => (
          <span key={k} className="chip chip-soft">
            {k}={v}
          </span>
        ))}
      </div>
    </section>
  );
}

function RunMetrics({ version }: { version: ModelVersion }) {
  const names = Object.keys(version.metrics);
  const series = useRunMetrics(names.length && version.run ? version.run : null);
  if (!names.length) return null;
  const charts = series.data ? seriesUntil(series.data, version.created_at, names) : [];
  return (
    <section className="card" aria-labelledby="metrics-title">
      <h2 className="card-title" id="metrics-title">
        Metrics of run #{version.run ?? version.run_number} at registration
      </h2>
      <table className="table table-compact metrics-table" data-testid="model-metrics">
        <tbody>
          {names.map((name) => (
            <tr key={name}>
              <th scope="row">{name}</th>
              <td className="num mono">{formatMetric(version.metrics[name])}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {series.isError && <ErrorNotice error={series.error} />}
      {charts.length > 0 && (
        <div className="card-grid">
          {charts.map((c) => (
            <LineChart key={c.name} title={c.name} xs={c.xs} ys={c.ys} xIsTime={false} xLabel={c.byStep ? "step" : "point"} />
          ))}
        </div>
      )}
    </section>
  );
}

function FilesCard({ version }: { version: ModelVersionDetail }) {
  const [shown, setShown] = useState<string | null>(() => version.files.find(previewable)?.path ?? null);
  return (
    <section className="card" aria-labelledby="files-title">
      <h2 className="card-title" id="files-title">
        Files
      </h2>
      <div className="table-wrap table-scroll">
        <table className="table table-compact">
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col" className="num">Size</th>
              <th scope="col" className="hide-sm">SHA-256</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {version.files.map((f) => (
              <tr key={f.path} className={f.path === shown ? "row-selected" : ""}>
                <td className="mono">{f.path}</td>
                <td className="num">{formatBytes(f.size)}</td>
                <td className="hide-sm mono muted">{f.sha256.slice(0, 12)}</td>
                <td>
                  {previewable(f) && (
                    <button type="button" className="btn btn-small" onClick={() => setShown(f.path)} aria-pressed={f.path === shown}>
                      Preview
                    </button>
                  )}{" "}
                  <a
                    className="btn btn-small"
                    href={`/api/model-versions/${version.id}/download/?path=${encodeURIComponent(f.path)}`}
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
      {shown && <FilePreview versionId={version.id} file={version.files.find((f) => f.path === shown)} />}
    </section>
  );
}

function FilePreview({ versionId, file }: { versionId: number; file: ModelFile | undefined }) {
  const preview = useModelFilePreview(versionId, file?.path ?? null);
  if (!file) return null;
  if (preview.isPending) return <Spinner label="Loading preview…" />;
  if (preview.isError) return <ErrorNotice error={preview.error} />;
  const p = preview.data;
  return (
    <figure className="preview" data-testid="file-preview">
      <figcaption className="muted small">
        {p.path} · {p.kind}
        {p.truncated && " · first 64 KiB"}
      </figcaption>
      {p.kind === "binary" ? (
        <EmptyState title="Binary file">Download it to look inside.</EmptyState>
      ) : (
        <pre className="error-block">{p.text}</pre>
      )}
    </figure>
  );
}

function DeleteVersion({ version }: { version: ModelVersion }) {
  const [confirming, setConfirming] = useState(false);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: () => api<void>(`/api/model-versions/${version.id}/`, { method: "DELETE" }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["models"] });
      navigate("/models");
    },
  });
  if (!confirming)
    return (
      <button type="button" className="btn btn-danger-outline" onClick={() => setConfirming(true)}>
        Delete version
      </button>
    );
  return (
    <div className="confirm" role="group" aria-label="Confirm delete">
      <span>
        Delete {version.name} v{version.version} and its files?
      </span>
      <button type="button" className="btn btn-danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
        Yes, delete
      </button>
      <button type="button" className="btn" onClick={() => setConfirming(false)}>
        Keep it
      </button>
      {remove.isError && (
        <p className="notice notice-danger" role="alert">
          {remove.error instanceof ApiError ? remove.error.message : "Could not delete."}
        </p>
      )}
    </div>
  );
}
