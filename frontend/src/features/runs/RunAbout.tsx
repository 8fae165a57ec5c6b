import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, ApiError } from "../../api/client";
import type { RunDetail } from "../../api/types";
import { ErrorNotice } from "../../components/Feedback";
import { KeyValueEditor, type KeyValue } from "../../components/KeyValueEditor";

/** Name, description and tags: editable after submit (PATCH /api/runs/{id}/, audited). */
export function RunAbout({ run }: { run: RunDetail }) {
  const [editing, setEditing] = useState(false);
  const tags = Object.entries(run.tags);
  return (
    <section className="card" aria-label="About this run" data-testid="run-about">
      <header className="chart-head">
        <h2 className="card-title">About this run</h2>
        {!editing && (
          <button type="button" className="btn btn-small" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
      </header>
      {editing ? (
        <RunAboutForm run={run} onDone={() => setEditing(false)} />
      ) : (
        <>
          <p data-testid="run-description" className={run.description ? "pre-wrap" : "muted"}>
            {run.description || "No description."}
          </p>
          <div className="tag-row" data-testid="run-tags">
            {tags.length ? (
              tags.map(([k, v]) => (
                <span key={k} className="chip">
                  {v ? `${k}=${v}` : k}
                </span>
              ))
            ) : (
              <span className="muted small">No tags.</span>
            )}
          </div>
        </>
      )}
    </section>
  );
}

function RunAboutForm({ run, onDone }: { run: RunDetail; onDone: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState(run.display_name);
  const [description, setDescription] = useState(run.description);
  const [tags, setTags] = useState<KeyValue[]>(Object.entries(run.tags).map(([key, value]) => ({ key, value })));
  const save = useMutation({
    mutationFn: () =>
      api<RunDetail>(`/api/runs/${run.id}/`, {
        method: "PATCH",
        json: {
          display_name: name,
          description,
          tags: Object.fromEntries(tags.filter((t) => t.key.trim()).map((t) => [t.key.trim(), t.value])),
        },
      }),
    onSuccess: (updated) => {
      queryClient.setQueryData(["run", run.id], updated);
      void queryClient.invalidateQueries({ queryKey: ["runs"] });
      onDone();
    },
  });
  const fieldErrors = save.error instanceof ApiError ? save.error.fieldErrors : {};
  const submit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate();
  };
  return (
    <form onSubmit={submit} className="stack">
      <label className="field">
        <span className="label">Name</span>
        <input value={name} maxLength={200} onChange={(e) => setName(e.target.value)} aria-label="Run name" />
      </label>
      <label className="field">
        <span className="label">Description</span>
        <textarea
          value={description}
          rows={3}
          maxLength={5000}
          onChange={(e) => setDescription(e.target.value)}
          aria-label="Run description"
        />
      </label>
      <div className="field">
        <span className="label">Tags</span>
        <KeyValueEditor items={tags} onChange={setTags} keyLabel="Tag" valueLabel="Value" addLabel="Add tag" />
        {fieldErrors.tags && <p className="field-error">{fieldErrors.tags.join(" ")}</p>}
      </div>
      {save.isError && !Object.keys(fieldErrors).length && <ErrorNotice error={save.error} />}
      <div className="toolbar">
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save"}
        </button>
        <button type="button" className="btn" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
