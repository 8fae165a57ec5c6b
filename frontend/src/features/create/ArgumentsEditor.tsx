import { useDatasets, useModels } from "../../api/queries";
import { FieldErrorList } from "../../components/Field";
import type { ArgumentItem } from "./runForm";

/** Arguments in order; a dataset (or model) argument becomes its mount or download path when the run starts. */
export function ArgumentsEditor({
  items,
  onChange,
  errorsAt,
}: {
  items: ArgumentItem[];
  onChange: (items: ArgumentItem[]) => void;
  errorsAt: (index: number) => string[] | undefined;
}) {
  const datasets = useDatasets();
  const models = useModels();
  const set = (index: number, item: ArgumentItem) => onChange(items.map((it, i) => (i === index ? item : it)));
  const remove = (index: number) => onChange(items.filter((_, i) => i !== index));
  const move = (index: number, delta: number) => {
    const target = index + delta;
    if (target < 0 || target >= items.length) return;
    const next = items.slice();
    [next[index], next[target]] = [next[target], next[index]];
    onChange(next);
  };
  const firstDataset = datasets.data?.[0]?.name ?? "";
  const firstModel = models.data?.[0]?.name ?? "";

  return (
    <div className="args-editor">
      {items.length === 0 && <p className="muted small">No arguments: the script runs as is.</p>}
      {items.map((item, index) => (
        <div key={index} className="arg-row">
          {item.kind === "text" ? (
            <input
              className="mono"
              aria-label={`Argument ${index + 1}`}
              placeholder="--epochs"
              value={item.value}
              onChange={(e) => set(index, { ...item, value: e.target.value })}
            />
          ) : item.kind === "model" ? (
            <div className="dataset-arg" role="group" aria-label={`Model argument ${index + 1}`}>
              <span className="chip chip-dataset">model</span>
              <select
                aria-label="Model"
                value={item.model}
                onChange={(e) => set(index, { ...item, model: e.target.value, version: "latest" })}
              >
                <option value="">Choose…</option>
                {models.data?.map((m) => (
                  <option key={m.id} value={m.name}>
                    {m.name}
                  </option>
                ))}
              </select>
              <select aria-label="Version" value={item.version} onChange={(e) => set(index, { ...item, version: e.target.value })}>
                <option value="latest">latest</option>
                {versionsOf(models.data?.find((m) => m.name === item.model)?.latest_version?.version).map((v) => (
                  <option key={v} value={String(v)}>
                    v{v}
                  </option>
                ))}
              </select>
              <span className="muted small">mounted read-only</span>
              <input
                aria-label="Input name"
                placeholder="input name (optional)"
                value={item.name}
                onChange={(e) => set(index, { ...item, name: e.target.value })}
                className="input-small"
              />
            </div>
          ) : (
            <div className="dataset-arg" role="group" aria-label={`Dataset argument ${index + 1}`}>
              <span className="chip chip-dataset">dataset</span>
              <select
                aria-label="Dataset"
                value={item.dataset}
                onChange={(e) => set(index, { ...item, dataset: e.target.value, version: "latest" })}
              >
                <option value="">Choose…</option>
                {datasets.data?.map((d) => (
                  <option key={d.id} value={d.name}>
                    {d.name}
                  </option>
                ))}
              </select>
              <select aria-label="Version" value={item.version} onChange={(e) => set(index, { ...item, version: e.target.value })}>
                <option value="latest">latest</option>
                {versionsOf(datasets.data?.find((d) => d.name === item.dataset)?.latest_version?.version).map((v) => (
                  <option key={v} value={String(v)}>
                    v{v}
                  </option>
                ))}
              </select>
              <div className="segmented" role="radiogroup" aria-label="How the run gets the files">
                {(["mount", "download"] as const).map((mode) => (
                  <label key={mode} className={`segment ${item.mode === mode ? "segment-on" : ""}`}>
                    <input
                      type="radio"
                      name={`mode-${index}`}
                      checked={item.mode === mode}
                      onChange={() => set(index, { ...item, mode })}
                    />
                    {mode === "mount" ? "Mount (read-only)" : "Download (copy)"}
                  </label>
                ))}
              </div>
              <input
                aria-label="Input name"
                placeholder="input name (optional)"
                value={item.name}
                onChange={(e) => set(index, { ...item, name: e.target.value })}
                className="input-small"
              />
            </div>
          )}
          <div className="arg-actions">
            <button type="button" className="btn btn-icon" aria-label="Move up" onClick={() => move(index, -1)} disabled={index === 0}>
              ↑
            </button>
            <button
              type="button"
              className="btn btn-icon"
              aria-label="Move down"
              onClick={() => move(index, 1)}
              disabled={index === items.length - 1}
            >
              ↓
            </button>
            <button type="button" className="btn btn-icon" aria-label={`Remove argument ${index + 1}`} onClick={() => remove(index)}>
              ×
            </button>
          </div>
          <FieldErrorList errors={errorsAt(index)} />
        </div>
      ))}
      <div className="row-gap">
        <button type="button" className="btn btn-small" onClick={() => onChange([...items, { kind: "text", value: "" }])}>
          + Argument
        </button>
        <button
          type="button"
          className="btn btn-small"
          onClick={() =>
            onChange([...items, { kind: "dataset", dataset: firstDataset, version: "latest", mode: "mount", name: "" }])
          }
          disabled={datasets.isSuccess && datasets.data.length === 0}
          title={datasets.isSuccess && datasets.data.length === 0 ? "Register a dataset first (Datasets page)" : undefined}
        >
          + Dataset input
        </button>
        <button
          type="button"
          className="btn btn-small"
          onClick={() => onChange([...items, { kind: "model", model: firstModel, version: "latest", name: "" }])}
          disabled={models.isSuccess && models.data.length === 0}
          title={models.isSuccess && models.data.length === 0 ? "Register a model first (Models page)" : undefined}
        >
          + Model input
        </button>
      </div>
      {items.length > 0 && (
        <p className="muted small">
          Command: <code>{preview(items)}</code>
        </p>
      )}
    </div>
  );
}

function versionsOf(latest: number | undefined): number[] {
  return latest ? Array.from({ length: latest }, (_, i) => latest - i) : [];
}

function preview(items: ArgumentItem[]): string {
  return items
    .map((item) =>
      item.kind === "text"
        ? item.value
        : item.kind === "model"
          ? `<model ${item.model || "?"}:${item.version}>`
          : `<${item.mode} ${item.dataset || "?"}:${item.version}>`,
    )
    .join(" ");
}
