import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api } from "../api/client";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { useCurrentUser } from "../features/session";
import { useTokens, type ApiTokenCreated } from "../features/runs/richQueries";
import { formatDateTime, formatRelative } from "../lib/format";
import { useDocumentTitle } from "../lib/useDocumentTitle";

/** The signed-in user's settings: API tokens for the SDK, the CLI and scripts. */
export default function SettingsPage() {
  useDocumentTitle("Settings");
  const user = useCurrentUser();
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Settings</h1>
          <p className="muted">
            Signed in as <strong>{user.username}</strong>
            {user.teams.length > 0 && <> · teams {user.teams.map((t) => t.name).join(", ")}</>}
          </p>
        </div>
      </header>
      <ApiTokens />
    </section>
  );
}

function ApiTokens() {
  const tokens = useTokens();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<ApiTokenCreated | null>(null);
  const create = useMutation({
    mutationFn: (tokenName: string) => api<ApiTokenCreated>("/api/auth/tokens/", { json: { name: tokenName } }),
    onSuccess: (token) => {
      setCreated(token);
      setName("");
      void queryClient.invalidateQueries({ queryKey: ["api-tokens"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim()) create.mutate(name.trim());
  };
  return (
    <section className="card" aria-label="API tokens">
      <h2 className="card-title">API tokens</h2>
      <p className="muted">
        For the SDK (<code>Workspace(url, token)</code>), the CLI (<code>RUNYARD_TOKEN</code>) and scripts: send{" "}
        <code>Authorization: Token &lt;key&gt;</code>. A token acts as you; revoke it when it is no longer used.
      </p>
      <form className="toolbar" onSubmit={submit}>
        <label className="inline-label">
          <span>Name</span>
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="laptop, CI…"
            maxLength={100}
            aria-label="Token name"
          />
        </label>
        <button type="submit" className="btn btn-primary" disabled={!name.trim() || create.isPending}>
          {create.isPending ? "Creating…" : "Create token"}
        </button>
      </form>
      {create.isError && <ErrorNotice error={create.error} />}
      {created && (
        <div className="notice notice-success" role="status" data-testid="new-token">
          <p>
            Token <strong>{created.name}</strong> created. Copy its key now: it is not shown again.
          </p>
          <p>
            <code className="mono" data-testid="new-token-key">
              {created.key}
            </code>{" "}
            <button type="button" className="btn btn-small" onClick={() => void navigator.clipboard?.writeText(created.key)}>
              Copy
            </button>{" "}
            <button type="button" className="btn btn-small" onClick={() => setCreated(null)}>
              Done
            </button>
          </p>
        </div>
      )}
      {tokens.isPending ? (
        <Spinner label="Loading tokens…" />
      ) : tokens.isError ? (
        <ErrorNotice error={tokens.error} onRetry={() => void tokens.refetch()} />
      ) : tokens.data.length === 0 ? (
        <EmptyState title="No API tokens">Create one to use the SDK or the CLI.</EmptyState>
      ) : (
        <table className="table" aria-label="Your API tokens">
          <thead>
            <tr>
              <th>Name</th>
              <th>Key</th>
              <th>Created</th>
              <th>Last used</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.data.map((token) => (
              <tr key={token.id} data-token={token.name}>
                <td>{token.name}</td>
                <td className="mono">{token.key_prefix}…</td>
                <td title={token.created_at}>{formatDateTime(token.created_at)}</td>
                <td>{token.last_used_at ? formatRelative(token.last_used_at) : <span className="muted">never</span>}</td>
                <td>
                  <RevokeButton id={token.id} name={token.name} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RevokeButton({ id, name }: { id: number; name: string }) {
  const [confirming, setConfirming] = useState(false);
  const queryClient = useQueryClient();
  const revoke = useMutation({
    mutationFn: () => api<void>(`/api/auth/tokens/${id}/`, { method: "DELETE" }),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["api-tokens"] }),
  });
  if (!confirming)
    return (
      <button type="button" className="btn btn-small btn-danger-outline" onClick={() => setConfirming(true)}>
        Revoke
      </button>
    );
  return (
    <span className="confirm" role="group" aria-label={`Confirm revoking ${name}`}>
      <button type="button" className="btn btn-small btn-danger" onClick={() => revoke.mutate()} disabled={revoke.isPending}>
        {revoke.isPending ? "Revoking…" : "Yes, revoke"}
      </button>
      <button type="button" className="btn btn-small" onClick={() => setConfirming(false)}>
        Keep
      </button>
      {revoke.isError && <ErrorNotice error={revoke.error} />}
    </span>
  );
}
