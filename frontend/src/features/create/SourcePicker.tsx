import { useRef, useState, type DragEvent } from "react";
import { FieldErrorList } from "../../components/Field";
import { formatBytes } from "../../lib/format";
import { filesFromEntry, readArchive, zipFolder, type FolderFile, type SourceBundle } from "./snapshot";

const ARCHIVE_TYPES = ".zip,.tar,.tar.gz,.tgz";

/** Choose, or drop, a source folder (zipped here in the browser) or a ready archive. */
export function SourcePicker({
  bundle,
  onBundle,
  errors,
  resubmitOf,
}: {
  bundle: SourceBundle | null;
  onBundle: (bundle: SourceBundle | null) => void;
  errors?: string[];
  resubmitOf: number | null;
}) {
  const folderInput = useRef<HTMLInputElement>(null);
  const archiveInput = useRef<HTMLInputElement>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);

  const run = async (label: string, work: () => Promise<SourceBundle>) => {
    setBusy(label);
    setProblem(null);
    try {
      onBundle(await work());
    } catch (error) {
      setProblem(`Could not read that: ${(error as Error).message}`);
    } finally {
      setBusy(null);
    }
  };

  const useFolder = (files: FolderFile[], name: string) => {
    if (!files.length) return;
    void run(`Packing ${files.length} files…`, () => zipFolder(files, name));
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const item = event.dataTransfer.items?.[0];
    const entry = item?.webkitGetAsEntry?.();
    if (entry?.isDirectory) {
      void run("Reading folder…", async () => {
        const files = await filesFromEntry(entry);
        return zipFolder(stripDroppedRoot(files, entry.name), entry.name);
      });
      return;
    }
    const file = event.dataTransfer.files[0];
    if (file) void run("Reading archive…", () => readArchive(file));
  };

  return (
    <div>
      <div
        className={`dropzone ${dragging ? "dropzone-over" : ""} ${errors?.length ? "dropzone-invalid" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        {bundle ? (
          <div className="source-chosen">
            <strong>{bundle.label}</strong>
            <span className="muted">
              {formatBytes(bundle.file.size)}
              {bundle.origin === "folder" ? " zipped" : ""}
              {bundle.paths ? ` · ${bundle.paths.length} files` : ""}
            </span>
            <button type="button" className="btn btn-small btn-ghost" onClick={() => onBundle(null)}>
              Remove
            </button>
          </div>
        ) : resubmitOf != null ? (
          <p>
            Reusing the code snapshot of run <strong>#{resubmitOf}</strong>. Choose a folder or archive to replace it.
          </p>
        ) : (
          <p>Drop your source folder or a .zip / .tar.gz here, or</p>
        )}
        <div className="dropzone-actions">
          <button type="button" className="btn" onClick={() => folderInput.current?.click()} disabled={!!busy}>
            Choose folder
          </button>
          <button type="button" className="btn" onClick={() => archiveInput.current?.click()} disabled={!!busy}>
            Choose archive
          </button>
        </div>
        {busy && <p className="muted">{busy}</p>}
        <input
          ref={folderInput}
          type="file"
          className="visually-hidden"
          tabIndex={-1}
          aria-label="Source folder"
          multiple
          {...{ webkitdirectory: "", directory: "" }}
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []).map((file) => ({
              path: file.webkitRelativePath || file.name,
              file,
            }));
            useFolder(files, files[0]?.path.split("/")[0] ?? "source");
            e.target.value = "";
          }}
        />
        <input
          ref={archiveInput}
          type="file"
          name="snapshot"
          className="visually-hidden"
          tabIndex={-1}
          aria-label="Source archive"
          accept={ARCHIVE_TYPES}
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void run("Reading archive…", () => readArchive(file));
            e.target.value = "";
          }}
        />
      </div>
      {problem && <FieldErrorList errors={[problem]} />}
      <FieldErrorList errors={errors} />
    </div>
  );
}

/** filesFromEntry prefixes the dropped folder's own name; the snapshot root is inside it. */
function stripDroppedRoot(files: FolderFile[], root: string): FolderFile[] {
  return files.map((f) => ({ ...f, path: f.path.startsWith(`${root}/`) ? f.path.slice(root.length + 1) : f.path }));
}
