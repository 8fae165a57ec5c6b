import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ApiError, api, uploadWithProgress } from "../../api/client";
import type { Dataset, DatasetVersion, TabularPreview } from "../../api/types";
import { ErrorNotice, ProgressBar } from "../../components/Feedback";
import { Field } from "../../components/Field";
import { PreviewTable } from "./TabularVersion";

const SAMPLE = 1 << 20; // the live preview sends each file's first megabyte, cut at a line end

interface Options {
  format: "delimited" | "parquet" | "json_lines";
  separator: string;
  header: boolean;
  encoding: string;
}

function definition(o: Options) {
  return { parse: o.format === "delimited" ? { ...o, separator: o.separator === "\\t" ? "\t" : o.separator } : { format: o.format } };
}

async function sample(file: File, format: Options["format"]): Promise<Blob> {
  if (format === "parquet" || file.size <= SAMPLE) return file;
  const head = new Uint8Array(await file.slice(0, SAMPLE).arrayBuffer());
  const end = head.lastIndexOf(10);
  return new Blob([head.slice(0, end > 0 ? end + 1 : head.length)]);
}

/** A new tabular version from picked files: parsing options, a live preview, then register. */
export function TabularCreate({ dataset }: { dataset: Dataset }) {
  const queryClient = useQueryClient();
  const [files, setFiles] = useState<File[]>([]);
  const [options, setOptions] = useState<Options>({ format: "delimited", separator: ",", header: true, encoding: "utf8" });
  const [preview, setPreview] = useState<TabularPreview | null>(null);
  const [previewError, setPreviewError] = useState<unknown>(null);
  const [progress, setProgress] = useState<number | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<DatasetVersion | null>(null);

  useEffect(() => {
    if (!files.length) return;
    const controller = new AbortController();
    const run = async () => {
      const form = new FormData();
      form.append("tabular", JSON.stringify(definition(options)));
      form.append("team", dataset.team ?? "");
      for (const f of files) form.append("files", await sample(f, options.format), f.name);
      try {
        setPreview(await api<TabularPreview>("/api/datasets/preview/?rows=20", { form, signal: controller.signal }));
        setPreviewError(null);
      } catch (e) {
        if ((e as Error).name !== "AbortError") {
          setPreview(null);
          setPreviewError(e);
        }
      }
    };
    const timer = setTimeout(() => void run(), 250);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [files, options, dataset.team]);

  const register = async () => {
    const form = new FormData();
    form.append("tabular", JSON.stringify(definition(options)));
    for (const f of files) form.append("files", f, f.name);
    setError(null);
    setProgress(0);
    try {
      const made = await uploadWithProgress<DatasetVersion>(`/api/datasets/${dataset.id}/versions/`, form, (p) =>
        setProgress(p.total ? p.loaded / p.total : 0),
      );
      setDone(made);
      setFiles([]);
      setPreview(null);
      void queryClient.invalidateQueries({ queryKey: ["datasets"] });
      void queryClient.invalidateQueries({ queryKey: ["dataset", dataset.id] });
      void queryClient.invalidateQueries({ queryKey: ["dataset-versions"] });
    } catch (e) {
      setError(e);
    } finally {
      setProgress(null);
    }
  };
  const set = (patch: Partial<Options>) => setOptions((o) => ({ ...o, ...patch }));
  const fieldErrors = previewError instanceof ApiError ? previewError.fieldErrors : {};
  return (
    <section className="card form" aria-label="New tabular version">
      <h3 className="card-title">New tabular version</h3>
      <Field label="Files">
        {(props) => (
          <input {...props} type="file" multiple onChange={(e) => setFiles(Array.from(e.target.files ?? []))} aria-label="Tabular files" />
        )}
      </Field>
      <div className="form-row">
        <Field label="Format">
          {(props) => (
            <select {...props} value={options.format} onChange={(e) => set({ format: e.target.value as Options["format"] })}>
              <option value="delimited">Delimited (CSV, TSV)</option>
              <option value="parquet">Parquet</option>
              <option value="json_lines">JSON lines</option>
            </select>
          )}
        </Field>
        {options.format === "delimited" && (
          <>
            <Field label="Separator" errors={fieldErrors["tabular.parse.separator"]}>
              {(props) => <input {...props} value={options.separator} onChange={(e) => set({ separator: e.target.value })} size={3} />}
            </Field>
            <Field label="Encoding">
              {(props) => (
                <select {...props} value={options.encoding} onChange={(e) => set({ encoding: e.target.value })}>
                  {["utf8", "iso88591", "windows1252", "ascii", "utf16"].map((v) => (
                    <option key={v}>{v}</option>
                  ))}
                </select>
              )}
            </Field>
            <label className="checkbox">
              <input type="checkbox" checked={options.header} onChange={(e) => set({ header: e.target.checked })} /> First row is the header
            </label>
          </>
        )}
      </div>
      {previewError != null && (
        <p role="alert" className="error-text" data-testid="preview-error">
          {previewError instanceof ApiError
            ? Object.values(previewError.fieldErrors).flat().join(" ") || previewError.message
            : String(previewError)}
        </p>
      )}
      {preview && <PreviewTable preview={preview} />}
      {error != null && <ErrorNotice error={error} />}
      {progress !== null && <ProgressBar value={progress} label="Uploading" />}
      {done && <p className="muted">Registered v{done.version}.</p>}
      <div className="form-actions">
        <button type="button" className="btn btn-primary" disabled={!files.length || !preview || progress !== null} onClick={() => void register()}>
          Register tabular version
        </button>
      </div>
    </section>
  );
}
