import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../api/client";
import type { ColumnProfile, DatasetVersion, ProfileResult, TabularPreview, TabularProfile } from "../../api/types";
import { ErrorNotice, ProgressBar, Spinner } from "../../components/Feedback";

/** A tabular version: its parsing definition, first rows and profile (computed in a task). */
export function TabularVersion({ version }: { version: DatasetVersion }) {
  return (
    <>
      <Definition version={version} />
      <PreviewCard version={version} />
      <ProfileCard version={version} />
    </>
  );
}

function Definition({ version }: { version: DatasetVersion }) {
  const def = version.tabular as { parse?: Record<string, unknown>; steps?: { op: string }[] };
  const parse = def.parse ?? {};
  return (
    <section className="card">
      <h3 className="card-title">Parsing definition</h3>
      <p className="muted small" data-testid="tabular-definition">
        {String(parse.format)}
        {parse.format === "delimited" &&
          ` · separator ${JSON.stringify(parse.separator)} · ${parse.header ? "header row" : "no header"} · ${String(parse.encoding)}`}
        {def.steps && def.steps.length > 0 && ` · steps: ${def.steps.map((s) => s.op).join(", ")}`}
      </p>
    </section>
  );
}

export function PreviewTable({ preview }: { preview: TabularPreview }) {
  return (
    <div className="table-wrap table-scroll">
      <table className="table table-compact" aria-label="Preview">
        <thead>
          <tr>
            {preview.columns.map((c) => (
              <th key={c.name} scope="col">
                {c.name} <span className="chip chip-soft small">{c.type}</span>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {preview.rows.map((row, i) => (
            <tr key={i}>
              {row.map((cell, j) => (
                <td key={j} className={typeof cell === "number" ? "num mono" : undefined}>
                  {cell === null ? <span className="muted">null</span> : String(cell)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function PreviewCard({ version }: { version: DatasetVersion }) {
  const preview = useQuery({
    queryKey: ["dataset-version", version.id, "preview"],
    queryFn: () => api<TabularPreview>(`/api/dataset-versions/${version.id}/preview/?rows=50`),
  });
  return (
    <section className="card">
      <h3 className="card-title">First rows of v{version.version}</h3>
      {preview.isPending ? <Spinner /> : preview.isError ? <ErrorNotice error={preview.error} /> : <PreviewTable preview={preview.data} />}
    </section>
  );
}

function ProfileCard({ version }: { version: DatasetVersion }) {
  const queryClient = useQueryClient();
  const key = ["dataset-version", version.id, "profile"];
  const profile = useQuery({
    queryKey: key,
    queryFn: () => api<TabularProfile>(`/api/dataset-versions/${version.id}/profile/`),
    refetchInterval: (q) => (q.state.data && ["queued", "running"].includes(q.state.data.status) ? 500 : false),
  });
  const start = useMutation({
    mutationFn: (again: boolean) => api<TabularProfile>(`/api/dataset-versions/${version.id}/profile/`, { json: { again } }),
    onSuccess: (p) => queryClient.setQueryData(key, p),
  });
  const p = profile.data;
  const result = p?.status === "done" ? (p.result as unknown as ProfileResult) : null;
  return (
    <section className="card">
      <h3 className="card-title">Profile</h3>
      {profile.isPending ? (
        <Spinner />
      ) : profile.isError ? (
        <ErrorNotice error={profile.error} />
      ) : p?.status === "none" ? (
        <button type="button" className="btn" onClick={() => start.mutate(false)} disabled={start.isPending}>
          Compute profile
        </button>
      ) : p?.status === "queued" || p?.status === "running" ? (
        <ProgressBar value={p.progress} label="Profiling" />
      ) : p?.status === "failed" ? (
        <div>
          <p role="alert" className="error-text">{p.error}</p>
          <button type="button" className="btn" onClick={() => start.mutate(true)}>
            Try again
          </button>
        </div>
      ) : result ? (
        <>
          <p className="muted" data-testid="profile-rows">
            {result.row_count.toLocaleString()} rows
          </p>
          <div className="table-wrap">
            <table className="table table-compact" aria-label="Profile">
              <thead>
                <tr>
                  <th scope="col">Column</th>
                  <th scope="col">Type</th>
                  <th scope="col" className="num">Nulls</th>
                  <th scope="col" className="num">Distinct</th>
                  <th scope="col" className="num">Min</th>
                  <th scope="col" className="num">Max</th>
                  <th scope="col" className="num">Mean</th>
                  <th scope="col">Distribution</th>
                </tr>
              </thead>
              <tbody>
                {result.columns.map((c) => (
                  <tr key={c.name}>
                    <td className="mono">{c.name}</td>
                    <td>{c.type}</td>
                    <td className="num">{c.nulls}</td>
                    <td className="num">
                      {c.distinct_exact ? "" : "≥ "}
                      {c.distinct}
                    </td>
                    <td className="num">{fmt(c.min)}</td>
                    <td className="num">{fmt(c.max)}</td>
                    <td className="num">{fmt(c.mean)}</td>
                    <td>
                      <Distribution column={c} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </section>
  );
}

function fmt(value: number | string | null): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  return value;
}

/** A small histogram for numbers, the top values' bars otherwise. */
function Distribution({ column }: { column: ColumnProfile }) {
  const bars = column.histogram.length
    ? column.histogram.map((b) => ({ label: `${b.start.toPrecision(3)}–${b.end.toPrecision(3)}`, count: b.count }))
    : column.top_values.slice(0, 8).map((t) => ({ label: String(t.value), count: t.count }));
  if (!bars.length) return <span className="muted">—</span>;
  const max = Math.max(...bars.map((b) => b.count), 1);
  const width = 120;
  const w = width / bars.length;
  return (
    <svg width={width} height={28} role="img" aria-label={`${column.name} distribution`} className="histogram">
      {bars.map((b, i) => (
        <rect key={i} x={i * w + 0.5} y={28 - (b.count / max) * 28} width={Math.max(1, w - 1)} height={(b.count / max) * 28} fill="var(--primary)">
          <title>
            {b.label}: {b.count}
          </title>
        </rect>
      ))}
    </svg>
  );
}
