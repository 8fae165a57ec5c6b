import { overLimit, useUploadLimits } from "../../lib/limits";
import { useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { ApiError, uploadWithProgress } from "../../api/client";
import type { Dataset, DatasetVersion } from "../../api/types";
import { ErrorNotice, ProgressBar } from "../../components/Feedback";
import { Field } from "../../components/Field";
import { formatBytes } from "../../lib/format";
import { isSkipped } from "../create/snapshot";

interface Picked {
  kind: "files" | "archive";
  files: { path: string; file: File }[];
}

/** New version of a dataset from files, a folder or an archive, with upload progress. */
export function DatasetUpload({ dataset }: { dataset: Dataset }) {
  const queryClient = useQueryClient();
  const [picked, setPicked] = useState<Picked | null>(null);
  const [description, setDescription] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [unsupported, setUnsupported] = useState(false);
  const [done, setDone] = useState<DatasetVersion | null>(null);
  const abort = useRef<AbortController | null>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const archiveInput = useRef<HTMLInputElement>(null);
  const total = picked?.files.reduce((n, f) => n + f.file.size, 0) ?? 0;
  const limits = useUploadLimits();
  const tooLarge =
    picked && limits.data
      ? overLimit(
          picked.kind === "archive" ? "The archive" : "The upload",
          total,
          picked.kind === "archive" ? null : picked.files.length,
          limits.data.dataset_max_bytes,
          limits.data.dataset_max_files,
        )
      : null;

  const pickFiles = (list: FileList | null, fromFolder: boolean) => {
    const files = Array.from(list ?? []).map((file) => {
      // A folder pick includes the folder's own name first; the dataset root is inside it.
      const rel = fromFolder && file.webkitRelativePath ? file.webkitRelativePath.split("/").slice(1).join("/") : file.name;
      return { path: rel, file };
    });
    setPicked({ kind: "files", files: files.filter((f) => !isSkipped(f.path)) });
    setDone(null);
  };

  const upload = async () => {
    if (!picked) return;
    const form = new FormData();
    if (picked.kind === "archive") form.append("archive", picked.files[0].file, picked.files[0].file.name);
    else picked.files.forEach(({ path, file }) => form.append("files", file, path));
    if (description) form.append("description", description);
    abort.current = new AbortController();
    setError(null);
    setProgress(0);
    try {
      const version = await uploadWithProgress<DatasetVersion>(
        `/api/datasets/${dataset.id}/versions/`,
        form,
        (p) => setProgress(p.total ? p.loaded / p.total : 0),
        abort.current.signal,
      );
      setDone(version);
      setPicked(null);
      setDescription("");
      void queryClient.invalidateQueries({ queryKey: ["dataset", dataset.id] });
      void queryClient.invalidateQueries({ queryKey: ["datasets"] });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 404 || err.status === 405)) setUnsupported(true);
      else if (!(err instanceof DOMException)) setError(err);
    } finally {
      setProgress(null);
    }
  };

  if (unsupported)
    return (
      <p className="notice notice-info">
        This server cannot take dataset uploads from the browser yet. Register files with the SDK:{" "}
        <code>Dataset.File.from_files(...).register(ws, "{dataset.name}")</code>.
      </p>
    );

  return (
    <section className="card stack" aria-label="Upload a new version">
      <h3 className="card-title">Upload a new version</h3>
      <div className="row-gap">
        <button type="button" className="btn" onClick={() => folderInput.current?.click()}>
          Choose folder
        </button>
        <button type="button" className="btn" onClick={() => filesInput.current?.click()}>
          Choose files
        </button>
        <button type="button" className="btn" onClick={() => archiveInput.current?.click()}>
          Choose archive
        </button>
      </div>
      <input
        ref={folderInput}
        type="file"
        multiple
        className="visually-hidden"
        tabIndex={-1}
        aria-label="Dataset folder"
        {...{ webkitdirectory: "", directory: "" }}
        onChange={(e) => pickFiles(e.target.files, true)}
      />
      <input
        ref={filesInput}
        type="file"
        multiple
        name="files"
        className="visually-hidden"
        tabIndex={-1}
        aria-label="Dataset files"
        onChange={(e) => pickFiles(e.target.files, false)}
      />
      <input
        ref={archiveInput}
        type="file"
        name="archive"
        accept=".zip,.tar,.tar.gz,.tgz"
        className="visually-hidden"
        tabIndex={-1}
        aria-label="Dataset archive"
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) setPicked({ kind: "archive", files: [{ path: file.name, file }] });
          setDone(null);
        }}
      />
      {!picked && !done && (
        <p className="muted small">
          Files keep their paths inside a chosen folder; an archive is unpacked on the server.
          {limits.data && (
            <>
              {" "}
              Up to {formatBytes(limits.data.dataset_max_bytes)} and {limits.data.dataset_max_files.toLocaleString()} files
              per upload.
            </>
          )}
        </p>
      )}
      {picked && (
        <>
          <p>
            {picked.kind === "archive" ? `Archive ${picked.files[0].path}` : `${picked.files.length} files`} ·{" "}
            {formatBytes(total)}
          </p>
          {tooLarge && (
            <p className="notice notice-danger" role="alert" data-testid="upload-too-large">
              {tooLarge}
            </p>
          )}
          <Field label="What's in this version" hint="Optional">
            {(props) => <input {...props} value={description} onChange={(e) => setDescription(e.target.value)} />}
          </Field>
        </>
      )}
      {progress !== null ? (
        <div className="submit-progress">
          <ProgressBar value={progress} label="Dataset upload progress" />
          <button type="button" className="btn" onClick={() => abort.current?.abort()}>
            Stop
          </button>
        </div>
      ) : (
        <button type="button" className="btn btn-primary" disabled={!picked || !!tooLarge} onClick={() => void upload()}>
          Upload
        </button>
      )}
      {error != null && <ErrorNotice error={error} />}
      {done && <p className="notice notice-success">Version {done.version} registered with {done.file_count} files.</p>}
    </section>
  );
}
