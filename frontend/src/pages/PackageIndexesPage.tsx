import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router-dom";
import { api, ApiError } from "../api/client";
import { usePackageIndexes } from "../api/queries";
import type { PackageIndex } from "../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { Field, FieldErrorList } from "../components/Field";
import { useCurrentUser } from "../features/session";
import { unclaimedErrors, type FieldErrors } from "../lib/fieldErrors";
import { useDocumentTitle } from "../lib/useDocumentTitle";

/** The package indexes environments may select; admins allow and remove them. */
export default function PackageIndexesPage() {
  useDocumentTitle("Package indexes");
  const user = useCurrentUser();
  const indexes = usePackageIndexes();
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Package indexes</h1>
          <p className="muted">
            Indexes an environment may use besides the server&apos;s own pip configuration: select them when editing an{" "}
            <Link to="/environments">environment</Link>, or give their URL as an --extra-index-url line. Any other index is
            refused.
          </p>
        </div>
      </header>
      {indexes.isPending ? (
        <Spinner label="Loading package indexes…" />
      ) : indexes.isError ? (
        <ErrorNotice error={indexes.error} onRetry={() => void indexes.refetch()} />
      ) : indexes.data.length === 0 ? (
        <EmptyState title="No allowed package indexes">Builds use the server&apos;s pip configuration only.</EmptyState>
      ) : (
        <table className="table" aria-label="Allowed package indexes">
          <thead>
            <tr>
              <th>Name</th>
              <th>URL</th>
              <th>Login</th>
              <th>Description</th>
              {user.is_admin && <th aria-label="Actions" />}
            </tr>
          </thead>
          <tbody>
            {indexes.data.map((index) => (
              <IndexRow key={index.id} index={index} canDelete={user.is_admin} />
            ))}
          </tbody>
        </table>
      )}
      {user.is_admin && <NewIndexForm />}
    </section>
  );
}

function IndexRow({ index, canDelete }: { index: PackageIndex; canDelete: boolean }) {
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: () => api(`/api/package-indexes/${index.id}/`, { method: "DELETE" }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["package-indexes"] }),
  });
  return (
    <tr>
      <td className="mono">{index.name}</td>
      <td className="mono">{index.url}</td>
      <td>
        {index.username || <span className="muted">none</span>}
        {index.has_password && <span className="muted"> · password set</span>}
      </td>
      <td>{index.description}</td>
      {canDelete && (
        <td>
          <button
            type="button"
            className="btn btn-ghost btn-small"
            disabled={remove.isPending}
            onClick={() => {
              if (window.confirm(`Stop allowing ${index.name}? Environments that select it will fail to build.`)) remove.mutate();
            }}
          >
            Delete
          </button>
          {remove.isError && <ErrorNotice error={remove.error} />}
        </td>
      )}
    </tr>
  );
}

const EMPTY = { name: "", url: "", username: "", password: "", description: "" };

function NewIndexForm() {
  const queryClient = useQueryClient();
  const [draft, setDraft] = useState(EMPTY);
  const [errors, setErrors] = useState<FieldErrors>({});
  const set = (change: Partial<typeof EMPTY>) => setDraft((d) => ({ ...d, ...change }));
  const create = useMutation({
    mutationFn: () => api<PackageIndex>("/api/package-indexes/", { method: "POST", json: draft }),
    onSuccess: () => {
      setDraft(EMPTY);
      setErrors({});
      void queryClient.invalidateQueries({ queryKey: ["package-indexes"] });
    },
    onError: (error) => setErrors(error instanceof ApiError ? error.fieldErrors : {}),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const leftover = unclaimedErrors(errors, ["name", "url", "username", "password", "description"]);
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label="Allow a package index">
      <h2 className="card-title">Allow a package index</h2>
      {leftover.length > 0 && (
        <div className="notice notice-danger" role="alert">
          <FieldErrorList errors={leftover} />
        </div>
      )}
      {create.isError && !(create.error instanceof ApiError && create.error.status === 400) && <ErrorNotice error={create.error} />}
      <div className="field-row">
        <Field label="Name" errors={errors.name} hint="What specs select, e.g. pytorch-cpu.">
          {(props) => <input {...props} name="name" value={draft.name} onChange={(e) => set({ name: e.target.value })} />}
        </Field>
        <Field label="URL" errors={errors.url} hint="A PEP 503 index: https://…/simple or file:///path/simple.">
          {(props) => <input {...props} name="url" className="mono" value={draft.url} onChange={(e) => set({ url: e.target.value })} />}
        </Field>
      </div>
      <div className="field-row">
        <Field label="Username" errors={errors.username}>
          {(props) => <input {...props} name="username" value={draft.username} onChange={(e) => set({ username: e.target.value })} />}
        </Field>
        <Field label="Password" errors={errors.password} hint="Write-only: never shown again, masked in build logs.">
          {(props) => (
            <input
              {...props}
              name="password"
              type="password"
              autoComplete="new-password"
              value={draft.password}
              onChange={(e) => set({ password: e.target.value })}
            />
          )}
        </Field>
      </div>
      <Field label="Description" errors={errors.description}>
        {(props) => <input {...props} name="description" value={draft.description} onChange={(e) => set({ description: e.target.value })} />}
      </Field>
      <div className="form-actions">
        <button type="submit" className="btn btn-primary" disabled={create.isPending}>
          {create.isPending ? "Saving…" : "Allow index"}
        </button>
      </div>
    </form>
  );
}
