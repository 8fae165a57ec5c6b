import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, ApiError } from "../../api/client";
import type { Environment, EnvironmentSpec } from "../../api/types";
import { ErrorNotice } from "../../components/Feedback";
import { Field, FieldErrorList } from "../../components/Field";
import { KeyValueEditor, type KeyValue } from "../../components/KeyValueEditor";
import { unclaimedErrors, type FieldErrors } from "../../lib/fieldErrors";
import { PackageIndexPicker } from "./PackageIndexPicker";

interface Draft {
  name: string;
  description: string;
  curated: boolean;
  python_version: string;
  pip_requirements: string;
  conda_specification: string;
  docker_base_image: string;
  dockerfile: string;
  environment_variables: KeyValue[];
  /** Write-only variables: shown as ***; saving *** back keeps the stored value. */
  secret_variables: string[];
  user_managed_dependencies: boolean;
  package_indexes: string[];
  default_index: string;
  version_description: string;
}

function draftFrom(env: Environment | null): Draft {
  const spec = env?.latest_version?.spec;
  return {
    name: env?.name ?? "",
    description: env?.description ?? "",
    curated: env?.curated ?? false,
    python_version: spec?.python_version ?? "3.11",
    pip_requirements: (spec?.pip_requirements ?? []).join("\n"),
    conda_specification: spec?.conda_specification ?? "",
    docker_base_image: spec?.docker_base_image ?? "",
    dockerfile: spec?.dockerfile ?? "",
    environment_variables: Object.entries(spec?.environment_variables ?? {}).map(([key, value]) => ({ key, value })),
    secret_variables: spec?.secret_variables ?? [],
    user_managed_dependencies: spec?.user_managed_dependencies ?? false,
    package_indexes: spec?.package_indexes ?? [],
    default_index: spec?.default_index ?? "",
    version_description: "",
  };
}

function specFrom(draft: Draft): EnvironmentSpec {
  return {
    python_version: draft.python_version.trim(),
    pip_requirements: draft.pip_requirements
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean),
    conda_specification: draft.conda_specification,
    docker_base_image: draft.docker_base_image.trim(),
    dockerfile: draft.dockerfile,
    environment_variables: Object.fromEntries(
      draft.environment_variables.filter((kv) => kv.key.trim()).map((kv) => [kv.key.trim(), kv.value]),
    ),
    secret_variables: draft.secret_variables.filter((name) =>
      draft.environment_variables.some((kv) => kv.key.trim() === name),
    ),
    user_managed_dependencies: draft.user_managed_dependencies,
    package_indexes: draft.package_indexes,
    default_index: draft.default_index,
  };
}

/** Creates an environment, or registers a new version of one (versions are immutable). */
export function EnvironmentEditor({
  environment,
  isAdmin,
  onDone,
  onCancel,
}: {
  environment: Environment | null;
  isAdmin: boolean;
  onDone: (env: Environment) => void;
  onCancel: () => void;
}) {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState(() => draftFrom(environment));
  const [errors, setErrors] = useState<FieldErrors>({});
  const set = (change: Partial<Draft>) => setDraft((d) => ({ ...d, ...change }));
  const creating = environment === null;

  const save = useMutation({
    mutationFn: () => {
      const body: Record<string, unknown> = {
        description: draft.description,
        spec: specFrom(draft),
        version_description: draft.version_description,
      };
      if (creating) {
        body.name = draft.name.trim();
        if (draft.curated) body.curated = true;
        return api<Environment>("/api/environments/", { method: "POST", json: body });
      }
      return api<Environment>(`/api/environments/${environment.id}/`, { method: "PATCH", json: body });
    },
    onSuccess: (env) => {
      void queryClient.invalidateQueries({ queryKey: ["environments"] });
      void queryClient.invalidateQueries({ queryKey: ["environment", env.id] });
      onDone(env);
    },
    onError: (error) => setErrors(error instanceof ApiError ? error.fieldErrors : {}),
  });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const local: FieldErrors = {};
    if (creating && !draft.name.trim()) local.name = ["Give the environment a name."];
    if (!/^3\.\d{1,2}(\.\d{1,2})?$/.test(draft.python_version.trim())) local["spec.python_version"] = ["Use a Python version like 3.11."];
    setErrors(local);
    if (!Object.keys(local).length) save.mutate();
  };

  const at = (field: string) => errors[field] ?? errors[`spec.${field}`];
  const leftover = unclaimedErrors(errors, [
    "name",
    "description",
    "version_description",
    ...[
      "python_version",
      "pip_requirements",
      "conda_specification",
      "docker_base_image",
      "dockerfile",
      "environment_variables",
      "user_managed_dependencies",
      "package_indexes",
      "default_index",
    ].flatMap(
      (f) => [f, `spec.${f}`],
    ),
  ]);

  return (
    <form className="card form editor" onSubmit={submit} noValidate aria-label={creating ? "New environment" : `Edit ${environment.name}`}>
      <h2 className="card-title">{creating ? "New environment" : `New version of ${environment.name}`}</h2>
      {!creating && (
        <p className="muted small">
          Saving registers version {(environment.latest_version?.version ?? 0) + 1}; runs keep using the version they were
          submitted with.
        </p>
      )}
      {leftover.length > 0 && (
        <div className="notice notice-danger" role="alert">
          <FieldErrorList errors={leftover} />
        </div>
      )}
      {save.isError && !(save.error instanceof ApiError && save.error.status === 400) && <ErrorNotice error={save.error} />}
      {creating && (
        <div className="field-row">
          <Field label="Name" errors={at("name")} hint="Letters, digits, '.', '-' and '_'.">
            {(props) => <input {...props} name="name" value={draft.name} onChange={(e) => set({ name: e.target.value })} />}
          </Field>
          {isAdmin && (
            <label className="check check-field">
              <input type="checkbox" checked={draft.curated} onChange={(e) => set({ curated: e.target.checked })} />
              Curated (visible to every team; name must start with Runyard-)
            </label>
          )}
        </div>
      )}
      <Field label="Description" errors={at("description")}>
        {(props) => <input {...props} name="description" value={draft.description} onChange={(e) => set({ description: e.target.value })} />}
      </Field>
      <div className="field-row">
        <Field label="Python version" errors={at("python_version")}>
          {(props) => (
            <input {...props} name="python_version" value={draft.python_version} onChange={(e) => set({ python_version: e.target.value })} />
          )}
        </Field>
        <Field label="Docker base image" errors={at("docker_base_image")} hint="Optional; empty builds a virtualenv.">
          {(props) => (
            <input
              {...props}
              name="docker_base_image"
              className="mono"
              placeholder="python:3.11-slim"
              value={draft.docker_base_image}
              onChange={(e) => set({ docker_base_image: e.target.value })}
            />
          )}
        </Field>
      </div>
      <Field label="pip requirements" errors={at("pip_requirements")} hint="One requirement per line, as in requirements.txt; --extra-index-url / --index-url lines must name an allowed package index.">
        {(props) => (
          <textarea
            {...props}
            name="pip_requirements"
            className="mono"
            rows={5}
            placeholder={"numpy==2.1.0\npandas>=2"}
            value={draft.pip_requirements}
            onChange={(e) => set({ pip_requirements: e.target.value })}
          />
        )}
      </Field>
      <PackageIndexPicker
        selected={draft.package_indexes}
        defaultIndex={draft.default_index}
        onChange={(package_indexes, default_index) => set({ package_indexes, default_index })}
        errors={[...(at("package_indexes") ?? []), ...(at("default_index") ?? [])]}
      />
      <details className="more" open={!!(draft.conda_specification || draft.dockerfile)}>
        <summary>Conda specification and Dockerfile</summary>
        <Field
          label="Conda specification"
          errors={at("conda_specification")}
          hint="environment.yml contents: its packages are installed from PyPI (pytorch as torch, numpy=1.26 as numpy==1.26.*), python=X.Y picks the interpreter."
        >
          {(props) => (
            <textarea
              {...props}
              className="mono"
              rows={5}
              value={draft.conda_specification}
              onChange={(e) => set({ conda_specification: e.target.value })}
            />
          )}
        </Field>
        <label className="check check-field">
          <input
            type="checkbox"
            checked={draft.user_managed_dependencies}
            onChange={(e) => set({ user_managed_dependencies: e.target.checked })}
          />
          User-managed dependencies: install nothing, run in the base interpreter
        </label>
        <FieldErrorList errors={at("user_managed_dependencies")} />
        <Field label="Dockerfile" errors={at("dockerfile")}>
          {(props) => (
            <textarea {...props} className="mono" rows={5} value={draft.dockerfile} onChange={(e) => set({ dockerfile: e.target.value })} />
          )}
        </Field>
      </details>
      <div className="field">
        <span className="label">Environment variables</span>
        <KeyValueEditor
          items={draft.environment_variables}
          onChange={(environment_variables) => set({ environment_variables })}
          keyLabel="Variable"
          valueLabel="Value"
          addLabel="Variable"
        />
        <FieldErrorList errors={at("environment_variables")} />
      </div>
      <Field label="What changed" errors={at("version_description")} hint="Shown next to the version.">
        {(props) => (
          <input
            {...props}
            name="version_description"
            value={draft.version_description}
            onChange={(e) => set({ version_description: e.target.value })}
          />
        )}
      </Field>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : creating ? "Create environment" : "Save new version"}
        </button>
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
