import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, ApiError } from "../api/client";
import { useDatasetFiles, useDatasets, useDatasetVersions, useDatastores } from "../api/queries";
import type { Dataset, DatasetVersion } from "../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { Field } from "../components/Field";
import { DatasetUpload } from "../features/datasets/DatasetUpload";
import { formatBytes, formatDateTime } from "../lib/format";
import { useDocumentTitle } from "../lib/useDocumentTitle";

export default function DatasetsPage() {
  const { id } = useParams();
  const datasets = useDatasets();
  const navigate = useNavigate();
  const selected = datasets.data?.find((d) => String(d.id) === id) ?? null;
  useDocumentTitle(selected ? selected.name : "Datasets");
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Datasets</h1>
          <p className="muted">Versioned sets of files. Runs mount them read-only or download a copy.</p>
        </div>
        <Link to="/datasets/new" className="btn btn-primary">
          New dataset
        </Link>
      </header>
      {datasets.isPending ? (
        <Spinner label="Loading datasets…" />
      ) : datasets.isError ? (
        <ErrorNotice error={datasets.error} onRetry={() => void datasets.refetch()} />
      ) : (
        <div className="split">
          <nav className="split-list" aria-label="Datasets">
            {datasets.data.length === 0 ? (
              <EmptyState title="No datasets yet">Create one, then upload its files.</EmptyState>
            ) : (
              <ul>
                {datasets.data.map((d) => (
                  <li key={d.id}>
                    <Link to={`/datasets/${d.id}`} className={`list-item ${d.id === selected?.id ? "list-item-on" : ""}`}>
                      <span className="list-title">{d.name}</span>
                      <span className="muted small">
                        {d.latest_version
                          ? `v${d.latest_version.version} · ${d.latest_version.file_count} files · ${formatBytes(d.latest_version.total_size)}`
                          : "no versions yet"}
                      </span>
                    </Link>
                  </li>
                ))}
              </ul>
            )}
          </nav>
          <div className="split-main">
            {id === "new" ? (
              <NewDatasetForm onCreated={(d) => navigate(`/datasets/${d.id}`)} />
            ) : selected ? (
              <DatasetDetail key={selected.id} dataset={selected} />
            ) : (
              <EmptyState title={id ? "No such dataset" : "Choose a dataset"}>
                Select a dataset to see its versions and files, or create a new one and upload files to it.
              </EmptyState>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

function NewDatasetForm({ onCreated }: { onCreated: (d: Dataset) => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const create = useMutation({
    mutationFn: () => api<Dataset>("/api/datasets/", { json: { name, description } }),
    onSuccess: (d) => {
      void queryClient.invalidateQueries({ queryKey: ["datasets"] });
      onCreated(d);
    },
  });
  const errors = create.error instanceof ApiError ? create.error.fieldErrors : {};
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="card form" onSubmit={submit} noValidate>
      <h2 className="card-title">New dataset</h2>
      <Field label="Name" errors={errors.name}>
        {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} required />}
      </Field>
      <Field label="Description" errors={errors.description}>
        {(props) => <input {...props} value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
      {create.isError && !Object.keys(errors).length && <ErrorNotice error={create.error} />}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={create.isPending || !name.trim()}>
          Create dataset
        </button>
      </div>
    </form>
  );
}

function DatasetDetail({ dataset }: { dataset: Dataset }) {
  const versions = useDatasetVersions(dataset.id);
  const datastores = useDatastores();
  const [selected, setSelected] = useState<number | null>(null);
  const list = versions.data ?? [];
  const current = list.find((v) => v.id === selected) ?? list[0];
  const storeName = (store: string | number | null) =>
    typeof store === "string" ? store : (datastores.data?.find((s) => s.id === store)?.name ?? "default");
  return (
    <div className="detail">
      <header className="detail-head">
        <div>
          <h2>{dataset.name}</h2>
          <p className="muted">
            {dataset.description || "No description."} · team {dataset.team}
          </p>
        </div>
      </header>
      {versions.isPending ? (
        <Spinner />
      ) : versions.isError ? (
        <ErrorNotice error={versions.error} />
      ) : list.length === 0 ? (
        <EmptyState title="No versions yet">Upload files below to register version 1.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table table-compact">
            <caption className="sr-only">Versions</caption>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Description</th>
                <th scope="col" className="num">Files</th>
                <th scope="col" className="num">Size</th>
                <th scope="col" className="hide-sm">Datastore</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.map((v) => (
                <tr key={v.id} className={v.id === current?.id ? "row-selected" : ""}>
                  <td>
                    <button type="button" className="link-button" onClick={() => setSelected(v.id)} aria-pressed={v.id === current?.id}>
                      v{v.version}
                    </button>
                  </td>
                  <td>{v.description || <span className="muted">—</span>}</td>
                  <td className="num">{v.file_count}</td>
                  <td className="num">{formatBytes(v.total_size)}</td>
                  <td className="hide-sm">
                    {storeName(v.datastore)}
                    {v.source_path && <span className="mono muted small"> {v.source_path}</span>}
                  </td>
                  <td>
                    {formatDateTime(v.created_at)} {v.created_by && <span className="muted">by {v.created_by}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {current && <VersionFiles version={current} />}
      <DatasetUpload dataset={dataset} />
    </div>
  );
}

function VersionFiles({ version }: { version: DatasetVersion }) {
  const files = useDatasetFiles(version.id);
  return (
    <section className="card">
      <h3 className="card-title">Files in v{version.version}</h3>
      {files.isPending ? (
        <Spinner />
      ) : files.isError ? (
        <ErrorNotice error={files.error} />
      ) : files.data === null ? (
        <p className="muted">
          {version.file_count} files, {formatBytes(version.total_size)}. This server does not list individual files yet.
        </p>
      ) : files.data.length === 0 ? (
        <p className="muted">No files.</p>
      ) : (
        <div className="table-wrap table-scroll">
          <table className="table table-compact">
            <thead>
              <tr>
                <th scope="col">Path</th>
                <th scope="col" className="num">Size</th>
                <th scope="col" className="hide-sm">SHA-256</th>
              </tr>
            </thead>
            <tbody>
              {files.data.map((f) => (
                <tr key={f.path}>
                  <td className="mono">
                    {f.path}
                    {f.url && (
                      <div className="small muted">
                        <a href={f.url} target="_blank" rel="noopener noreferrer">
                          {f.url}
                        </a>
                      </div>
                    )}
                  </td>
                  <td className="num">{f.url ? <span className="muted">fetched by each run</span> : formatBytes(f.size)}</td>
                  <td className="hide-sm mono muted">{f.url ? "web file" : f.sha256.slice(0, 12)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
