import { Link } from "react-router-dom";
import { ApiError } from "../api/client";
import { EmptyState } from "./Feedback";

/** One wording for every missing object: the API answers 404 for others' teams' objects too. */
export function NotFound({ kind, id, back, backLabel }: { kind: string; id?: number | string; back: string; backLabel: string }) {
  const what = id != null ? `${kind} ${typeof id === "number" ? `#${id}` : id}` : kind;
  return (
    <div data-testid="not-found">
      <EmptyState
        title={`${what[0].toUpperCase()}${what.slice(1)} not found`}
        action={
          <Link className="btn" to={back}>
            {backLabel}
          </Link>
        }
      >
        It does not exist, was deleted, or belongs to another team.
      </EmptyState>
    </div>
  );
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiError && error.status === 404;
}
