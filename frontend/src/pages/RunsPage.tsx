import { useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { toPath } from "../api/client";
import { useComputeTargets, useExperiments } from "../api/queries";
import { ALL_STATUSES, type RunStatus } from "../api/types";
import { EmptyState, ErrorNotice, Spinner } from "../components/Feedback";
import { Pager } from "../components/Pager";
import { statusLabel } from "../components/StatusBadge";
import { useSavedColumns, useSaveColumns, useWorkbenchRuns, type WorkbenchQuery } from "../features/runs/workbench/api";
import { BulkBar } from "../features/runs/workbench/BulkBar";
import { ColumnChooser } from "../features/runs/workbench/ColumnChooser";
import { parseColumns } from "../features/runs/workbench/columns";
import { ConditionFilter, type Condition } from "../features/runs/workbench/ConditionFilter";
import { useDismissable } from "../features/runs/workbench/useDismissable";
import { CAUSES, causeLabel } from "../features/runs/FailureCause";
import { WorkbenchTable } from "../features/runs/workbench/WorkbenchTable";
import { useDebounced } from "../lib/useDebounced";
import { useDocumentTitle } from "../lib/useDocumentTitle";
import { useRunFeed } from "../lib/useRunFeed";

const TEXT_FILTERS = [
  "experiment",
  "compute_target",
  "submitted_by",
  "environment",
  "tag",
  "property",
  "parent",
  "cause",
  "q",
] as const;
const CONDITION_PARAMS = ["metric", "metric_min", "metric_max", "param"] as const;

function filtersFrom(params: URLSearchParams): WorkbenchQuery {
  return {
    status: params.getAll("status").filter((s): s is RunStatus => ALL_STATUSES.includes(s as RunStatus)),
    experiment: params.get("experiment") ?? "",
    compute_target: params.get("compute_target") ?? "",
    submitted_by: params.get("submitted_by") ?? "",
    environment: params.get("environment") ?? "",
    tag: params.get("tag") ?? "",
    property: params.get("property") ?? "",
    parent: /^\d+$/.test(params.get("parent") ?? "") ? params.get("parent")! : "",
    cause: params.get("cause") ?? "",
    q: params.get("q") ?? "",
    ordering: params.get("ordering") ?? "",
    conditions: CONDITION_PARAMS.flatMap((param) => params.getAll(param).map((value) => ({ param, value }))),
    archived: params.get("archived") === "true",
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
  const effective = useMemo(() => JSON.parse(filterKey) as WorkbenchQuery, [filterKey]);
  const [cursor, setCursor] = useState<{ key: string; path: string | null }>({ key: "", path: null });
  const cursorPath = cursor.key === filterKey ? cursor.path : null;
  const runs = useWorkbenchRuns(effective, cursorPath);
  const experiments = useExperiments();
  const experimentId = experiments.data?.find((e) => e.name === filters.experiment)?.id ?? null;
  // The experiment's own columns once its id is known (the URL names it).
  const saved = useSavedColumns(experimentId, !filters.experiment || experiments.data !== undefined);
  const saveColumns = useSaveColumns(experimentId);
  // The choice shows at once (a checkbox follows its click); the server keeps it for next time.
  const [chosen, setChosen] = useState<{ experiment: number | null; columns: string[] } | null>(null);
  const columnIds = (chosen?.experiment === experimentId ? chosen.columns : null) ?? saved.data?.columns ?? [];
  const columns = useMemo(() => parseColumns(columnIds), [columnIds]);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const select = (ids: number[], on: boolean) =>
    setSelected((current) => {
      const next = new Set(current);
      ids.forEach((id) => (on ? next.add(id) : next.delete(id)));
      return next;
    });

  const update = (changes: Partial<Record<string, string | string[]>>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      next.delete(key);
      if (Array.isArray(value)) value.forEach((v) => next.append(key, v));
      else if (value) next.set(key, value);
    }
    setParams(next, { replace: true });
  };
  const setConditions = (conditions: Condition[]) => {
    const next = new URLSearchParams(params);
    CONDITION_PARAMS.forEach((p) => next.delete(p));
    conditions.forEach((c) => next.append(c.param, c.value));
    setParams(next, { replace: true });
  };
  const active =
    filters.status.length > 0 ||
    TEXT_FILTERS.some((key) => !!filters[key]) ||
    !!searchText ||
    filters.conditions.length > 0 ||
    filters.archived;
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
        <select
          aria-label="Failure cause"
          value={filters.cause}
          onChange={(e) => update({ cause: e.target.value })}
          className="filter-small"
        >
          <option value="">Any cause</option>
          {CAUSES.map((cause) => (
            <option key={cause} value={cause}>
              {causeLabel(cause)}
            </option>
          ))}
        </select>
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
        <ConditionFilter conditions={filters.conditions} onChange={setConditions} />
        <label className="check">
          <input
            type="checkbox"
            checked={filters.archived}
            onChange={(e) => update({ archived: e.target.checked ? "true" : "" })}
          />
          Archived runs
        </label>
        <ColumnChooser
          experimentId={experimentId}
          chosen={columnIds}
          onChange={(next) => {
            setChosen({ experiment: experimentId, columns: next });
            saveColumns.mutate(next);
          }}
        />
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

      {selected.size > 0 && (
        <BulkBar selected={[...selected]} archivedView={filters.archived} onClear={() => setSelected(new Set())} />
      )}
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
        <WorkbenchTable
          rows={rows}
          columns={columns}
          ordering={filters.ordering}
          onOrder={(ordering) => update({ ordering })}
          selected={selected}
          onSelect={select}
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

function StatusFilter({ selected, onChange }: { selected: RunStatus[]; onChange: (value: RunStatus[]) => void }) {
  const label = useMemo(
    () => (selected.length === 0 ? "Any status" : selected.map(statusLabel).join(", ")),
    [selected],
  );
  const ref = useRef<HTMLDetailsElement>(null);
  useDismissable(ref);
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
