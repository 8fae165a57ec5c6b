import { useState } from "react";
import { Link } from "react-router-dom";
import { useModels } from "../api/queries";
import type { RegisteredModel } from "../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { formatDateTime } from "../lib/format";
import { useDocumentTitle } from "../lib/useDocumentTitle";

/** The model registry: every model name with its latest version, tags, and who registered it when. */
export default function ModelsPage() {
  useDocumentTitle("Models");
  const models = useModels();
  const [filter, setFilter] = useState("");
  const wanted = filter.trim().toLowerCase();
  const matches = (m: RegisteredModel) =>
    !wanted ||
    m.name.toLowerCase().includes(wanted) ||
    Object.entries(m.latest_version?.tags ?? {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(wanted));
  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Models</h1>
          <p className="muted">
            Registered models and their versions. Register one from a run's Artifacts tab, with{" "}
            <code>run.register_model(…)</code>, <code>Model.register(ws, path, name)</code> or{" "}
            <code>runyard model register</code>.
          </p>
        </div>
      </header>
      {models.isPending ? (
        <Spinner label="Loading models…" />
      ) : models.isError ? (
        <ErrorNotice error={models.error} onRetry={() => void models.refetch()} />
      ) : models.data.length === 0 ? (
        <EmptyState title="No models yet">
          Open a finished run, go to its Artifacts tab and choose “Register model”, or call{" "}
          <code>run.register_model("name", "outputs/model.pkl")</code> in your training script.
        </EmptyState>
      ) : (
        <>
          <div className="filters" role="search">
            <input
              type="search"
              className="filter-search"
              value={filter}
              onChange={(e) => setFilter(e.target.value)}
              placeholder="Filter by name or tag=value"
              aria-label="Filter models"
            />
          </div>
          <div className="table-wrap">
            <table className="table" data-testid="models-table">
              <caption className="sr-only">Registered models</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col" className="num">Latest</th>
                  <th scope="col" className="hide-sm">Framework</th>
                  <th scope="col">Tags</th>
                  <th scope="col" className="hide-sm">Produced by</th>
                  <th scope="col">Registered</th>
                </tr>
              </thead>
              <tbody>
                {models.data.filter(matches).map((m) => (
                  <ModelRow key={m.id} model={m} />
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function ModelRow({ model }: { model: RegisteredModel }) {
  const latest = model.latest_version;
  return (
    <tr>
      <td>
        {latest ? (
          <Link to={`/models/versions/${latest.id}`} className="list-title">
            {model.name}
          </Link>
        ) : (
          model.name
        )}
        <div className="muted small">
          {model.version_count} version{model.version_count === 1 ? "" : "s"} · team {model.team}
        </div>
      </td>
      <td className="num">{latest ? `v${latest.version}` : "—"}</td>
      <td className="hide-sm">{latest?.framework || <span className="muted">—</span>}</td>
      <td>
        <div className="tag-row">
          {Object.entries(latest?.tags ?? {}).map(([k, v]) => (
            <span key={k} className="chip">
              {v ? `${k}=${v}` : k}
            </span>
          ))}
        </div>
      </td>
      <td className="hide-sm">
        {latest?.run ? (
          <Link to={`/runs/${latest.run}`}>run #{latest.run}</Link>
        ) : latest?.run_number ? (
          <span className="muted">run #{latest.run_number} (deleted)</span>
        ) : (
          <span className="muted">uploaded files</span>
        )}
      </td>
      <td>
        {formatDateTime(latest?.created_at ?? model.created_at)}{" "}
        {latest?.created_by && <span className="muted">by {latest.created_by}</span>}
      </td>
    </tr>
  );
}
