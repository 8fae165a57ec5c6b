import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { toPath } from "../api/client";
import { useComputeTargets, useExperiments, useRuns, type RunFilters } from "../api/queries";
import { ALL_STATUSES, type RunStatus, type RunSummary } from "../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { Pager } from "../components/Pager";
import { StatusBadge, statusLabel } from "../components/StatusBadge";
import { formatDuration, formatFullDateTime, formatRelative } from "../lib/format";
import { runDuration, runTitle } from "../lib/runs";
import { useDebounced } from "../lib/useDebounced";
import { useDocumentTitle } from "../lib/useDocumentTitle";
import { useNow } from "../lib/useNow";
import { useRunFeed } from "../lib/useRunFeed";

const TEXT_FILTERS = [
  "experiment",
  "compute_target",
  "submitted_by",
  "environment",
  "tag",
  "property",
  "parent",
  "q",
] as const;

function filtersFrom(params: URLSearchParams): RunFilters {
  return {
    status: params.getAll("status").filter((s): s is RunStatus => ALL_STATUSES.includes(s as RunStatus)),
    experiment: params.get("experiment") ?? "",
    compute_target: params.get("compute_target") ?? "",
    submitted_by: params.get("submitted_by") ?? "",
    environment: params.get("environment") ?? "",
    tag: params.get("tag") ?? "",
    property: params.get("property") ?? "",
    parent: /^\d+$/.test(params.get("parent") ?? "") ? params.get("parent")! : "",
    q: params.get("q") ?? "",
    ordering: params.get("ordering") === "created_at" ? "created_at" : "-created_at",
  };
}

export function RunsPage() {
  useDocumentTitle("Runs");
  useRunFeed();
  const [params, setParams] = useSearchParams();
  const filters = filtersFrom(params);
  const [searchText, setSearchText] = useState(filters.q);
  // Typing in any filter box asks the server once per pause, not once per key.
  const filterKey = useDebounced(JSON.stringify(filters), 250);
  const effective = useMemo(() => JSON.parse(filterKey) as RunFilters, [filterKey]);
  const [cursor, setCursor] = useState<{ key: string; path: string | null }>({ key: "", path: null });
  const cursorPath = cursor.key === filterKey ? cursor.path : null;
  const runs = useRuns(effective, cursorPath);

  const update = (changes: Partial<Record<string, string | string[]>>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      next.delete(key);
      if (Array.isArray(value)) value.forEach((v) => next.append(key, v));
      else if (value) next.set(key, value);
    }
    setParams(next, { replace: true });
  };
  const active = filters.status.length > 0 || TEXT_FILTERS.some((key) => !!filters[key]) || !!searchText;
  const rows = runs.data?.results ?? [];

  return (
    <section className="page">
      <header className="page-header">
        <div>
          <h1>Runs</h1>
          <p className="muted">Every run in your teams. Statuses update live.</p>
        </div>
        <Link to="/runs/new" className="btn btn-primary">
          New run
        </Link>
      </header>

      <div className="filters" role="search">
        <input
          type="search"
          className="filter-search"
          placeholder="Search name, script, experiment or run id"
          aria-label="Search runs"
          value={searchText}
          onChange={(e) => {
            setSearchText(e.target.value);
            update({ q: e.target.value });
          }}
        />
        <StatusFilter selected={filters.status} onChange={(status) => update({ status })} />
        <ExperimentFilter value={filters.experiment} onChange={(experiment) => update({ experiment })} />
        <ComputeFilter value={filters.compute_target} onChange={(compute_target) => update({ compute_target })} />
        <input
          placeholder="User"
          aria-label="Submitted by (username)"
          value={filters.submitted_by}
          onChange={(e) => update({ submitted_by: e.target.value })}
          className="filter-small"
        />
        <input
          placeholder="Tag (key or key=value)"
          aria-label="Tag"
          value={filters.tag}
          onChange={(e) => update({ tag: e.target.value })}
          className="filter-small"
        />
        <input
          placeholder="Property (key or key=value)"
          aria-label="Property"
          value={filters.property}
          onChange={(e) => update({ property: e.target.value })}
          className="filter-small"
        />
        {filters.parent && (
          <span className="chip chip-soft" data-testid="parent-filter">
            child runs of <Link to={`/runs/${filters.parent}`}>#{filters.parent}</Link>{" "}
            <button
              type="button"
              className="chip-close"
              aria-label="Show all runs, not only these child runs"
              onClick={() => update({ parent: "" })}
            >
              ×
            </button>
          </span>
        )}
        {active && (
          <button
            type="button"
            className="btn btn-ghost"
            onClick={() => {
              setSearchText("");
              setParams(new URLSearchParams(), { replace: true });
            }}
          >
            Clear filters
          </button>
        )}
      </div>

      {runs.isPending ? (
        <Spinner label="Loading runs…" />
      ) : runs.isError ? (
        <ErrorNotice error={runs.error} onRetry={() => void runs.refetch()} />
      ) : rows.length === 0 ? (
        active ? (
          <EmptyState title="No runs match these filters">Try removing a filter or searching for something else.</EmptyState>
        ) : (
          <EmptyState
            title="No runs yet"
            action={
              <Link to="/runs/new" className="btn btn-primary">
                Submit your first run
              </Link>
            }
          >
            Upload a folder with a training script, pick an environment and a compute target, and watch it run here.
          </EmptyState>
        )
      ) : (
        <RunsTable
          rows={rows}
          ordering={filters.ordering}
          onToggleOrdering={() => update({ ordering: filters.ordering === "-created_at" ? "created_at" : "" })}
          busy={runs.isFetching && runs.isPlaceholderData}
        />
      )}
      <Pager
        hasPrevious={!!runs.data?.previous}
        hasNext={!!runs.data?.next}
        onPrevious={() => setCursor({ key: filterKey, path: toPath(runs.data!.previous!) })}
        onNext={() => setCursor({ key: filterKey, path: toPath(runs.data!.next!) })}
      />
    </section>
  );
}

function RunsTable({
  rows,
  ordering,
  onToggleOrdering,
  busy,
}: {
  rows: RunSummary[];
  ordering: RunFilters["ordering"];
  onToggleOrdering: () => void;
  busy: boolean;
}) {
  const now = useNow(rows.some((r) => r.running_at && !r.ended_at));
  return (
    <div className={`table-wrap ${busy ? "is-busy" : ""}`}>
      <table className="table runs-table">
        <thead>
          <tr>
            <th scope="col">Run</th>
            <th scope="col">Status</th>
            <th scope="col">Experiment</th>
            <th scope="col" className="hide-sm">Script</th>
            <th scope="col" className="hide-sm">Compute</th>
            <th scope="col" className="hide-md">Environment</th>
            <th scope="col" className="hide-sm">By</th>
            <th scope="col" aria-sort={ordering === "-created_at" ? "descending" : "ascending"}>
              <button type="button" className="sort-button" onClick={onToggleOrdering}>
                Submitted {ordering === "-created_at" ? "↓" : "↑"}
              </button>
            </th>
            <th scope="col" className="num">Duration</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((run) => (
            <tr key={run.id} data-run-id={run.id}>
              <td>
                <Link to={`/runs/${run.id}`} className="run-link">
                  <span className="run-id">#{run.id}</span> {runTitle(run)}
                </Link>
                {run.parent != null && (
                  <div className="muted small">
                    child of <Link to={`/runs/${run.parent}`}>#{run.parent}</Link>
                  </div>
                )}
                {Object.keys(run.tags).length > 0 && (
                  <div className="tag-row">
                    {Object.entries(run.tags)
                      .slice(0, 3)
                      .map(([k, v]) => (
                        <span key={k} className="chip">
                          {v ? `${k}=${v}` : k}
                        </span>
                      ))}
                  </div>
                )}
              </td>
              <td>
                <span title={run.waiting_reason || undefined}>
                  <StatusBadge status={run.status} queuePosition={run.queue_position} />
                </span>
              </td>
              <td>{run.experiment}</td>
              <td className="hide-sm mono">{run.script || run.command.join(" ")}</td>
              <td className="hide-sm">{run.compute_target}</td>
              <td className="hide-md">{run.environment}</td>
              <td className="hide-sm">{run.submitted_by}</td>
              <td title={formatFullDateTime(run.created_at)}>{formatRelative(run.created_at, now)}</td>
              <td className="num">{formatDuration(runDuration(run, now))}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function StatusFilter({ selected, onChange }: { selected: RunStatus[]; onChange: (value: RunStatus[]) => void }) {
  const label = useMemo(
    () => (selected.length === 0 ? "Any status" : selected.map(statusLabel).join(", ")),
    [selected],
  );
  const ref = useRef<HTMLDetailsElement>(null);
  useEffect(() => {
    // <details> stays open on its own; close it like a menu on an outside click or Escape.
    const close = (event: Event) => {
      const el = ref.current;
      if (!el?.open) return;
      if (event instanceof KeyboardEvent ? event.key === "Escape" : !el.contains(event.target as Node)) {
        el.open = false;
        if (event instanceof KeyboardEvent) el.querySelector("summary")?.focus();
      }
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, []);
  return (
    <details className="dropdown" ref={ref}>
      <summary className="btn" aria-label={`Status filter: ${label}`}>
        {label} ▾
      </summary>
      <fieldset className="dropdown-menu">
        <legend className="sr-only">Statuses</legend>
        {ALL_STATUSES.map((status) => (
          <label key={status} className="check">
            <input
              type="checkbox"
              checked={selected.includes(status)}
              onChange={(e) =>
                onChange(e.target.checked ? [...selected, status] : selected.filter((s) => s !== status))
              }
            />
            {statusLabel(status)}
          </label>
        ))}
      </fieldset>
    </details>
  );
}

function ExperimentFilter({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const experiments = useExperiments();
  return (
    <select aria-label="Experiment" value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">All experiments</option>
      {experiments.data?.map((exp) => (
        <option key={exp.id} value={exp.name}>
          {exp.name}
        </option>
      ))}
      {value && !experiments.data?.some((e) => e.name === value) && <option value={value}>{value}</option>}
    </select>
  );
}

function ComputeFilter({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const targets = useComputeTargets();
  return (
    <select aria-label="Compute target" value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">All compute</option>
      {targets.data?.map((t) => (
        <option key={t.id} value={t.name}>
          {t.name}
        </option>
      ))}
    </select>
  );
}
