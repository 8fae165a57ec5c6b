import { useEffect, useMemo, useState } from "react";
import { ErrorNotice, Spinner } from "../../components/Feedback";
import { formatBytes } from "../../lib/format";
import {
  buildTree,
  parseCsv,
  prettyJson,
  PREVIEW_BYTES,
  previewKind,
  type FileEntry,
  type TreeFolder,
} from "../../lib/fileTree";
import "./rich.css";

/** Larger files are not fetched for a preview (the download endpoints send whole files). */
const FETCH_LIMIT = 8 * 1024 * 1024;
const CSV_ROWS = 200;

export interface FileSource {
  files: FileEntry[];
  /** The file's bytes (a preview reads the first PREVIEW_BYTES). */
  read: (path: string) => Promise<Blob>;
  /** Where the browser downloads one file; null: no link (use read). */
  downloadUrl: (path: string) => string | null;
  /** A zip of a folder ("" = everything), when the server makes one. */
  folderZipUrl?: (folder: string) => string;
}

/** A folder tree on the left, the chosen file's preview on the right. */
export function FileBrowser({ source, label, initial }: { source: FileSource; label: string; initial?: string }) {
  const tree = useMemo(() => buildTree(source.files), [source.files]);
  const [selected, setSelected] = useState<string | null>(initial ?? null);
  const file = source.files.find((f) => f.path === selected) ?? null;
  return (
    <div className="file-browser">
      <nav aria-label={label} className="card">
        <div className="toolbar">
          <span className="muted small">
            {tree.count} file{tree.count === 1 ? "" : "s"} · {formatBytes(tree.bytes)}
          </span>
          <span className="spacer" />
          {source.folderZipUrl && (
            <a className="btn btn-small" href={source.folderZipUrl("")} download data-testid="download-all">
              Download all (zip)
            </a>
          )}
        </div>
        <ul className="file-tree" role="tree" aria-label={label}>
          <FolderItems folder={tree} selected={selected} onSelect={setSelected} source={source} depth={0} />
        </ul>
      </nav>
      <div className="card file-view" aria-live="polite">
        {file ? (
          <Preview key={file.path} file={file} source={source} />
        ) : (
          <p className="muted">Choose a file to preview it.</p>
        )}
      </div>
    </div>
  );
}

function FolderItems({
  folder,
  selected,
  onSelect,
  source,
  depth,
}: {
  folder: TreeFolder;
  selected: string | null;
  onSelect: (path: string) => void;
  source: FileSource;
  depth: number;
}) {
  return (
    <>
      {folder.folders.map((sub) => (
        <Folder key={sub.path} folder={sub} selected={selected} onSelect={onSelect} source={source} depth={depth} />
      ))}
      {folder.files.map((file) => (
        <li key={file.path} role="treeitem" aria-selected={selected === file.path}>
          <button
            type="button"
            aria-current={selected === file.path}
            onClick={() => onSelect(file.path)}
            title={`${file.path} · ${formatBytes(file.size)}`}
          >
            {file.path.split("/").pop()} <span className="muted small">{formatBytes(file.size)}</span>
          </button>
        </li>
      ))}
    </>
  );
}

function Folder({
  folder,
  selected,
  onSelect,
  source,
  depth,
}: {
  folder: TreeFolder;
  selected: string | null;
  onSelect: (path: string) => void;
  source: FileSource;
  depth: number;
}) {
  // The first two levels start open: outputs/ and what is directly in it.
  const [open, setOpen] = useState(depth < 2 || (selected?.startsWith(`${folder.path}/`) ?? false));
  return (
    <li role="treeitem" aria-expanded={open} aria-selected={false}>
      <button type="button" onClick={() => setOpen(!open)}>
        {open ? "▾" : "▸"} {folder.name}/{" "}
        <span className="muted small">
          {folder.count} · {formatBytes(folder.bytes)}
        </span>
      </button>
      {open && (
        <ul role="group">
          {source.folderZipUrl && (
            <li>
              <a className="small" href={source.folderZipUrl(folder.path)} download>
                Download {folder.name}/ (zip)
              </a>
            </li>
          )}
          <FolderItems folder={folder} selected={selected} onSelect={onSelect} source={source} depth={depth + 1} />
        </ul>
      )}
    </li>
  );
}

type Loaded = { kind: "text"; text: string; cut: boolean } | { kind: "image"; url: string; revoke: boolean };

function Preview({ file, source }: { file: FileEntry; source: FileSource }) {
  const kind = previewKind(file.path);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [error, setError] = useState<unknown>(null);
  const tooLarge = kind !== "binary" && file.size > FETCH_LIMIT;
  useEffect(() => {
    if (kind === "binary" || tooLarge) return;
    let cancelled = false;
    let objectUrl: string | null = null;
    const direct = source.downloadUrl(file.path);
    if (kind === "image" && direct) {
      setLoaded({ kind: "image", url: direct, revoke: false });
      return;
    }
    source
      .read(file.path)
      .then(async (blob) => {
        if (cancelled) return;
        if (kind === "image") {
          objectUrl = URL.createObjectURL(blob);
          setLoaded({ kind: "image", url: objectUrl, revoke: true });
        } else {
          const text = await blob.slice(0, PREVIEW_BYTES).text();
          if (!cancelled) setLoaded({ kind: "text", text, cut: blob.size > PREVIEW_BYTES });
        }
      })
      .catch((e: unknown) => !cancelled && setError(e));
    return () => {
      cancelled = true;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [file.path, kind, tooLarge, source]);
  const download = source.downloadUrl(file.path);
  return (
    <div data-testid="file-preview" data-path={file.path}>
      <header className="chart-head">
        <h3 className="mono">{file.path}</h3>
        <span className="muted small">
          {formatBytes(file.size)}{" "}
          {download && (
            <a className="btn btn-small" href={download} download>
              Download
            </a>
          )}
        </span>
      </header>
      {kind === "binary" ? (
        <p className="muted">No preview for this kind of file.</p>
      ) : tooLarge ? (
        <p className="muted">Too large to preview here ({formatBytes(file.size)}); download it instead.</p>
      ) : error != null ? (
        <ErrorNotice error={error} />
      ) : !loaded ? (
        <Spinner label="Loading preview…" />
      ) : loaded.kind === "image" ? (
        <img src={loaded.url} alt={file.path} />
      ) : (
        <TextPreview path={file.path} kind={kind} text={loaded.text} cut={loaded.cut} />
      )}
    </div>
  );
}

function TextPreview({ path, kind, text, cut }: { path: string; kind: string; text: string; cut: boolean }) {
  const rows = useMemo(
    () => (kind === "csv" ? parseCsv(text, path.toLowerCase().endsWith(".tsv") ? "\t" : ",") : null),
    [kind, text, path],
  );
  const note = cut && <p className="muted small">Showing the first {formatBytes(PREVIEW_BYTES)}.</p>;
  if (rows && rows.length) {
    const [header, ...body] = rows;
    return (
      <>
        <div className="table-scroll">
          <table className="table table-compact" data-testid="csv-preview">
            <thead>
              <tr>
                {header.map((cell, i) => (
                  <th key={i}>{cell}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {body.slice(0, CSV_ROWS).map((row, r) => (
                <tr key={r}>
                  {row.map((cell, i) => (
                    <td key={i}>{cell}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {body.length > CSV_ROWS && (
          <p className="muted small">
            First {CSV_ROWS} of {body.length.toLocaleString()} rows.
          </p>
        )}
        {note}
      </>
    );
  }
  return (
    <>
      <pre data-testid="text-preview">{kind === "json" && !cut ? prettyJson(text) : text}</pre>
      {note}
    </>
  );
}
