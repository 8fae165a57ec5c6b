import { useMutation } from "@tanstack/react-query";
import { api } from "../../api/client";
import type { ComputeTarget, ConnectionTest } from "../../api/types";
import { ErrorNotice } from "../../components/Feedback";

/** An admin's "Test connection": runs the target's checks on the server and lists each result. */
export function ConnectionTestButton({ target }: { target: ComputeTarget }) {
  const test = useMutation({
    mutationFn: () => api<ConnectionTest>(`/api/compute-targets/${target.id}/test/`, { method: "POST" }),
  });
  return (
    <div className="connection-test">
      <button type="button" className="btn btn-small" disabled={test.isPending} onClick={() => test.mutate()}>
        {test.isPending ? "Testing…" : "Test connection"}
      </button>
      <div aria-live="polite">
        {test.isError && <ErrorNotice error={test.error} />}
        {test.data && (
          <div aria-label={`Connection test of ${target.name}`}>
            <p className="small">
              <span className={`badge ${test.data.ok ? "badge-success" : "badge-danger"}`}>
                {test.data.ok ? "All checks passed" : "A check failed"}
              </span>
            </p>
            <ul className="check-list">
              {test.data.checks.map((check) => (
                <li key={check.name} className={check.ok ? "check-ok" : "check-failed"}>
                  <span aria-hidden="true">{check.ok ? "✓" : "✗"}</span>{" "}
                  <strong>{check.name}</strong>
                  <span className="sr-only">{check.ok ? " passed" : " failed"}</span>: <span className="small">{check.detail}</span>
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
    </div>
  );
}
