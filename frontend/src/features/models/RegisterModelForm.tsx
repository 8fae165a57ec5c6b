import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { api, ApiError } from "../../api/client";
import type { Artifact, ModelVersion } from "../../api/types";
import { ErrorNotice } from "../../components/Feedback";
import { Field } from "../../components/Field";
import { KeyValueEditor, type KeyValue } from "../../components/KeyValueEditor";
import { modelPathChoices, suggestedModelName } from "../../lib/models";

const FRAMEWORKS = ["", "PyTorch", "TensorFlow", "TfKeras", "ScikitLearn", "Onnx", "Custom", "Multi"];

/** Azure's run.register_model from the browser: a file or folder of the run's artifacts
 * becomes a new version of a model, with the run's lineage. Nothing is uploaded. */
export function RegisterModelForm({ runId, artifacts, onClose }: { runId: number; artifacts: Artifact[]; onClose: () => void }) {
  const choices = modelPathChoices(artifacts.map((a) => a.path));
  const initial = choices.find((c) => c.startsWith("outputs/") && c !== "outputs/") ?? choices[0] ?? "";
  const [path, setPath] = useState(initial);
  const [name, setName] = useState(suggestedModelName(initial));
  const [description, setDescription] = useState("");
  const [framework, setFramework] = useState("");
  const [frameworkVersion, setFrameworkVersion] = useState("");
  const [tags, setTags] = useState<KeyValue[]>([]);
  const queryClient = useQueryClient();
  const register = useMutation({
    mutationFn: () =>
      api<ModelVersion>(`/api/runs/${runId}/register-model/`, {
        json: {
          model_name: name.trim(),
          model_path: path.replace(/\/$/, ""),
          description,
          model_framework: framework,
          model_framework_version: frameworkVersion,
          tags: Object.fromEntries(tags.filter((t) => t.key.trim()).map((t) => [t.key.trim(), t.value])),
        },
      }),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["models"] });
      void queryClient.invalidateQueries({ queryKey: ["model-versions"] });
    },
  });
  const errors = register.error instanceof ApiError ? register.error.fieldErrors : {};
  const submit = (e: FormEvent) => {
    e.preventDefault();
    register.mutate();
  };
  if (register.isSuccess)
    return (
      <div className="notice notice-success" role="status">
        Registered{" "}
        <Link to={`/models/versions/${register.data.id}`}>
          {register.data.name} version {register.data.version}
        </Link>{" "}
        ({register.data.file_count} files).
        <button type="button" className="btn btn-small" onClick={onClose}>
          Close
        </button>
      </div>
    );
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label="Register model">
      <h2 className="card-title">Register a model from this run</h2>
      <div className="field-pair">
        <Field label="Model path" errors={errors.model_path}>
          {(props) => (
            <select
              {...props}
              value={path}
              onChange={(e) => {
                const next = e.target.value;
                if (!name.trim() || name === suggestedModelName(path)) setName(suggestedModelName(next));
                setPath(next);
              }}
            >
              {choices.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Model name" errors={errors.model_name}>
          {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} required />}
        </Field>
      </div>
      <Field label="Description" errors={errors.description}>
        {(props) => <input {...props} value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
      <div className="field-row">
        <Field label="Framework" errors={errors.model_framework}>
          {(props) => (
            <select {...props} value={framework} onChange={(e) => setFramework(e.target.value)}>
              {FRAMEWORKS.map((f) => (
                <option key={f} value={f}>
                  {f || "—"}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Framework version" errors={errors.model_framework_version}>
          {(props) => (
            <input {...props} value={frameworkVersion} onChange={(e) => setFrameworkVersion(e.target.value)} disabled={!framework} />
          )}
        </Field>
      </div>
      <div className="field">
        <span className="label">Tags</span>
        <KeyValueEditor items={tags} onChange={setTags} keyLabel="Tag" valueLabel="Value" addLabel="Add tag" />
      </div>
      {register.isError && !Object.keys(errors).length && <ErrorNotice error={register.error} />}
      {errors.tags && <ErrorNotice error={register.error} />}
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={register.isPending || !name.trim() || !path}>
          {register.isPending ? "Registering…" : "Register model"}
        </button>
        <button type="button" className="btn" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
