import { auditObjectPath } from "../lib/auditLinks";
import { Fragment, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { AuditEvent } from "../api/types";
import { toPath } from "../api/client";
import { useAuditEvents, type AuditFilters } from "../api/queries";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { Pager } from "../components/Pager";
import { formatFullDateTime } from "../lib/format";
import { useDebounced } from "../lib/useDebounced";
import { useDocumentTitle } from "../lib/useDocumentTitle";

const ACTIONS = [
  ["", "Any action"],
  ["runs.", "Runs"],
  ["environments.", "Environments"],
  ["datasets.", "Datasets"],
  ["compute.", "Compute"],
  ["accounts.user.login", "Sign-ins"],
  ["accounts.", "Accounts and tokens"],
] as const;

const FIELDS = ["actor", "action", "object_type", "object_id", "since", "until"] as const;

/** datetime-local gives local wall time; the API wants an instant. */
function toIso(local: string): string {
  return local ? new Date(local).toISOString() : "";
}

export default function AuditPage() {
  useDocumentTitle("Audit log");
  const [params, setParams] = useSearchParams();
  const raw = Object.fromEntries(FIELDS.map((f) => [f, params.get(f) ?? ""])) as unknown as AuditFilters;
  const debounced = useDebounced(raw, 300);
  const filters = { ...debounced, since: toIso(debounced.since), until: toIso(debounced.until) };
  const [page, setPage] = useState<{ key: string; path: string | null }>({ key: "", path: null });
  const key = JSON.stringify(filters);
  const events = useAuditEvents(filters, page.key === key ? page.path : null);
  const [open, setOpen] = useState<number | null>(null);
  const set = (field: keyof AuditFilters, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(field, value);
    else next.delete(field);
    setParams(next, { replace: true });
  };
  const hasFilters = FIELDS.some((f) => raw[f]);

  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Audit log</h1>
          <p className="muted">Who did what to which object, when and from where.</p>
        </div>
      </header>
      <div className="filters" role="search">
        <input aria-label="Actor" placeholder="Actor (username)" value={raw.actor} onChange={(e) => set("actor", e.target.value)} className="filter-small" />
        <select aria-label="Action" value={ACTIONS.some(([v]) => v === raw.action) ? raw.action : "custom"} onChange={(e) => set("action", e.target.value === "custom" ? raw.action : e.target.value)}>
          {ACTIONS.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
          {!ACTIONS.some(([v]) => v === raw.action) && <option value="custom">{raw.action}</option>}
        </select>
        <input aria-label="Action starts with" placeholder="Action prefix" className="filter-small" value={raw.action} onChange={(e) => set("action", e.target.value)} />
        <input aria-label="Object type" placeholder="Object type" value={raw.object_type} onChange={(e) => set("object_type", e.target.value)} className="filter-small" />
        <input aria-label="Object id" placeholder="Object id" value={raw.object_id} onChange={(e) => set("object_id", e.target.value)} className="filter-tiny" />
        <label className="inline-label">
          <span>From</span>
          <input type="datetime-local" value={raw.since} onChange={(e) => set("since", e.target.value)} />
        </label>
        <label className="inline-label">
          <span>To</span>
          <input type="datetime-local" value={raw.until} onChange={(e) => set("until", e.target.value)} />
        </label>
        {hasFilters && (
          <button type="button" className="btn btn-ghost" onClick={() => setParams({}, { replace: true })}>
            Clear filters
          </button>
        )}
      </div>
      {events.isPending ? (
        <Spinner label="Loading events…" />
      ) : events.isError ? (
        <ErrorNotice error={events.error} onRetry={() => void events.refetch()} />
      ) : events.data.results.length === 0 ? (
        <EmptyState title={hasFilters ? "No events match these filters" : "Nothing recorded yet"}>
          {hasFilters ? "Widen the time range or clear a filter." : "Sign-ins, submissions, cancellations and edits appear here."}
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table audit-table">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Object</th>
                <th scope="col" className="hide-sm">From</th>
                <th scope="col">
                  <span className="sr-only">Details</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {events.data.results.map((event) => (
                <Fragment key={event.id}>
                  <tr data-action={event.action}>
                    <td>{formatFullDateTime(event.at)}</td>
                    <td>{event.actor_name || <span className="muted">system</span>}</td>
                    <td>
                      <code className="action">{event.action}</code>
                    </td>
                    <td>
                      <AuditObject event={event} />{" "}
                      {event.object_type && (
                        <span className="muted small">
                          {event.object_type}
                          {event.object_id && ` #${event.object_id}`}
                        </span>
                      )}
                    </td>
                    <td className="hide-sm muted small">
                      {event.via}
                      {event.ip && ` · ${event.ip}`}
                    </td>
                    <td>
                      {Object.keys(event.changes ?? {}).length > 0 && (
                        <button
                          type="button"
                          className="btn btn-small btn-ghost"
                          aria-expanded={open === event.id}
                          onClick={() => setOpen(open === event.id ? null : event.id)}
                        >
                          {open === event.id ? "Hide" : "Changes"}
                        </button>
                      )}
                    </td>
                  </tr>
                  {open === event.id && (
                    <tr className="row-detail">
                      <td colSpan={6}>
                        <pre className="code-block">{JSON.stringify(event.changes, null, 2)}</pre>
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager
        hasPrevious={!!events.data?.previous}
        hasNext={!!events.data?.next}
        onPrevious={() => setPage({ key, path: toPath(events.data!.previous!) })}
        onNext={() => setPage({ key, path: toPath(events.data!.next!) })}
        summary={events.data?.count != null ? `${events.data.count.toLocaleString()} events` : undefined}
      />
    </section>
  );
}

function AuditObject({ event }: { event: AuditEvent }) {
  const label = event.object_repr || "—";
  const to = auditObjectPath(event.object_type, event.object_id, event.changes);
  return to ? (
    <Link to={to} data-testid="audit-object-link">
      {label}
    </Link>
  ) : (
    <>{label}</>
  );
}
