import { Link } from "react-router-dom";
import { useModelVersions } from "../../api/queries";
import { ErrorNotice } from "../../components/Feedback";
import { formatDateTime } from "../../lib/format";

/** The model versions a run produced (registered from its artifacts). */
export function RunModels({ runId }: { runId: number }) {
  const versions = useModelVersions({ run: runId });
  if (versions.isError) return <ErrorNotice error={versions.error} />;
  if (!versions.data?.length) return null;
  return (
    <section className="card" aria-labelledby="run-models-title" data-testid="run-models">
      <h2 className="card-title" id="run-models-title">
        Models registered from this run
      </h2>
      <ul className="plain-list">
        {versions.data.map((v) => (
          <li key={v.id}>
            <Link to={`/models/versions/${v.id}`}>
              {v.name} v{v.version}
            </Link>{" "}
            <span className="mono muted small">{v.source_path}</span>{" "}
            <span className="muted small">
              {formatDateTime(v.created_at)}
              {v.created_by && ` by ${v.created_by}`}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}
