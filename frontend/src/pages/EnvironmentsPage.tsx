import { NotFound } from "../components/NotFound";
import { useEffect } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { useEnvironments } from "../api/queries";
import type { Environment } from "../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { EnvironmentDetail } from "../features/environments/EnvironmentDetail";
import { EnvironmentEditor } from "../features/environments/EnvironmentEditor";
import { useCurrentUser } from "../features/session";
import { formatRelative } from "../lib/format";
import { useDocumentTitle } from "../lib/useDocumentTitle";

export default function EnvironmentsPage() {
  const user = useCurrentUser();
  const { id } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const environments = useEnvironments();
  const creating = id === "new";
  const editing = params.get("edit") === "1";
  const byName = params.get("name");
  const selected = environments.data?.find((e) => String(e.id) === id) ?? null;
  useDocumentTitle(selected ? selected.name : "Environments");

  // Links from a run carry the environment's name (the run knows its version, not the environment's id).
  useEffect(() => {
    if (!byName || !environments.data) return;
    const match = environments.data.find((e) => e.name === byName);
    if (match) navigate(`/environments/${match.id}?version=${params.get("version") ?? ""}`, { replace: true });
  }, [byName, environments.data, navigate, params]);

  const readOnlyReason = (env: Environment) =>
    env.curated && !user.is_admin ? "Curated environments are read-only; only admins can change them. Create your own to customise it." : null;

  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Environments</h1>
          <p className="muted">Python, packages and image for your runs. Every edit is a new, immutable version.</p>
        </div>
        <div className="form-actions">
          <Link to="/package-indexes" className="btn btn-ghost">
            Package indexes
          </Link>
          <Link to="/environments/new" className="btn btn-primary">
            New environment
          </Link>
        </div>
      </header>
      {environments.isPending ? (
        <Spinner label="Loading environments…" />
      ) : environments.isError ? (
        <ErrorNotice error={environments.error} onRetry={() => void environments.refetch()} />
      ) : (
        <div className="split">
          <EnvironmentList environments={environments.data} selectedId={selected?.id ?? null} />
          <div className="split-main">
            {creating ? (
              <EnvironmentEditor
                environment={null}
                isAdmin={user.is_admin}
                onDone={(env) => navigate(`/environments/${env.id}`)}
                onCancel={() => navigate("/environments")}
              />
            ) : selected && editing && !readOnlyReason(selected) ? (
              <EnvironmentEditor
                key={selected.id}
                environment={selected}
                isAdmin={user.is_admin}
                onDone={() => setParams({})}
                onCancel={() => setParams({})}
              />
            ) : selected ? (
              <EnvironmentDetail
                key={selected.id}
                environment={selected}
                canEdit={!readOnlyReason(selected)}
                readOnlyReason={readOnlyReason(selected)}
                onEdit={() => setParams({ edit: "1" })}
                initialVersion={Number(params.get("version")) || null}
              />
            ) : id ? (
              <NotFound kind="environment" id={Number(id) || id} back="/environments" backLabel="All environments" />
            ) : (
              <EmptyState title="Choose an environment">
                Pick one on the left to see its versions, spec and build log, or create your own from a list of pip
                requirements.
              </EmptyState>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

function EnvironmentList({ environments, selectedId }: { environments: Environment[]; selectedId: number | null }) {
  if (!environments.length)
    return (
      <EmptyState title="No environments yet">
        Create one with the pip packages your training script needs.
      </EmptyState>
    );
  return (
    <nav className="split-list" aria-label="Environments">
      <ul>
        {environments.map((env) => (
          <li key={env.id}>
            <Link to={`/environments/${env.id}`} className={`list-item ${env.id === selectedId ? "list-item-on" : ""}`} aria-current={env.id === selectedId ? "page" : undefined}>
              <span className="list-title">
                {env.name} {env.curated && <span className="chip chip-curated">★ curated</span>}
              </span>
              <span className="muted small">
                v{env.latest_version?.version ?? "—"} · {env.version_count} version{env.version_count === 1 ? "" : "s"} · Python{" "}
                {env.latest_version?.spec.python_version} · {formatRelative(env.latest_version?.created_at ?? env.created_at)}
              </span>
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
