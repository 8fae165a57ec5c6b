import { Link } from "react-router-dom";
import { ErrorNotice, Spinner } from "../../components/Feedback";
import { useDiagnosis } from "./richQueries";

/** A failed run's error, found in its log: exception, last stderr lines, link to the line. */
export function ErrorExcerpt({ runId }: { runId: number }) {
  const diagnosis = useDiagnosis(runId, true);
  if (diagnosis.isPending) return <Spinner label="Reading the log for the error…" />;
  if (diagnosis.isError) return <ErrorNotice error={diagnosis.error} />;
  const d = diagnosis.data;
  if (!d.lines.length && !d.exception_type) return null;
  const at = d.error_seq ?? d.traceback_seq ?? d.lines[d.lines.length - 1]?.seq;
  return (
    <section className="card error-excerpt" aria-label="Error excerpt" data-testid="error-excerpt">
      <h2 className="card-title">
        Why it failed
        {d.rank != null && <span className="muted small"> · rank {d.rank}</span>}
        {d.exit_code != null && <span className="muted small"> · exit code {d.exit_code}</span>}
      </h2>
      {(d.exception_type || d.message) && (
        <p className="error-headline" data-testid="error-headline">
          {d.exception_type}
          {d.exception_type && d.message ? ": " : ""}
          {d.message}
        </p>
      )}
      {d.lines.length > 0 && (
        <>
          <p className="muted small">Last {d.lines.length} stderr lines of the failing rank:</p>
          <pre className="error-block" data-testid="error-lines">
            {d.lines.map((line) => line.text).join("\n")}
          </pre>
        </>
      )}
      {at != null && (
        <Link className="btn btn-small" to={`?tab=logs&seq=${at}`} data-testid="error-log-link">
          Show in log (line {at})
        </Link>
      )}
    </section>
  );
}
