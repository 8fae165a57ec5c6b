import { overLimit, useUploadLimits } from "../lib/limits";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { ApiError, uploadWithProgress } from "../api/client";
import { useComputeTargets, useExperiments, useRun } from "../api/queries";
import type { RunDetail, Sweep } from "../api/types";
import { ErrorNotice, ProgressBar, Spinner } from "../components/Feedback";
import { Field, FieldErrorList } from "../components/Field";
import { KeyValueEditor } from "../components/KeyValueEditor";
import { ArgumentsEditor } from "../features/create/ArgumentsEditor";
import { ComputePicker } from "../features/create/ComputePicker";
import { DistributedEditor } from "../features/create/DistributedEditor";
import { EnvironmentFit } from "../features/create/EnvironmentFit";
import { EnvironmentPicker } from "../features/create/EnvironmentPicker";
import { emptyForm, formFromRun, submissionForm, validateRunForm, type RunForm } from "../features/create/runForm";
import { guessScript, scriptCandidates, type SourceBundle } from "../features/create/snapshot";
import { SourcePicker } from "../features/create/SourcePicker";
import { SweepEditor } from "../features/sweeps/SweepEditor";
import { unclaimedErrors, type FieldErrors } from "../lib/fieldErrors";
import { formatBytes } from "../lib/format";
import { emptySweepForm, hyperdrivePayload, validateSweep, type SweepForm } from "../lib/sweeps";
import { useDocumentTitle } from "../lib/useDocumentTitle";

/** Every error path some input on this page shows; the rest go to the summary at the top. */
const SHOWN_FIELDS = [
  "snapshot",
  "resubmit_of",
  "script",
  "experiment",
  "display_name",
  "arguments",
  "environment",
  "environment_version",
  "compute_target",
  "distributed",
  "tags",
  "max_run_duration_seconds",
];

/** The sweep editor's error paths (the server's names for HyperDriveConfig's fields). */
const SWEEP_FIELDS = [
  "hyperdrive",
  "hyperparameter_sampling",
  "parameters",
  "primary_metric_name",
  "primary_metric_goal",
  "primary_metric_config",
  "policy",
  "max_total_runs",
  "max_concurrent_runs",
  "max_duration_minutes",
  "seed",
];

/** Which API error paths each form field answers for. */
const ERROR_PATHS: Partial<Record<keyof RunForm, string[]>> = {
  script: ["script"],
  experiment: ["experiment"],
  displayName: ["display_name"],
  arguments: ["arguments"],
  environment: ["environment", "environment_version"],
  environmentVersion: ["environment_version"],
  computeTarget: ["compute_target", "distributed"],
  distributed: ["distributed"],
  tags: ["tags"],
  maxDuration: ["max_run_duration_seconds"],
  maxDurationUnit: ["max_run_duration_seconds"],
};

export default function CreateRunPage() {
  const [params] = useSearchParams();
  const from = params.get("from");
  const asSweep = params.get("sweep") === "1";
  const source = useRun(Number(from), !!from);
  useDocumentTitle(from ? `Resubmit run ${from}` : asSweep ? "New sweep" : "New run");
  if (from && source.isPending) return <Spinner label={`Loading run ${from}…`} />;
  if (from && source.isError) return <ErrorNotice error={source.error} />;
  return (
    <CreateRunForm
      key={`${from ?? "new"}:${asSweep}`}
      initial={from && source.data ? formFromRun(source.data) : emptyForm()}
      initialSweep={asSweep}
    />
  );
}

function CreateRunForm({ initial, initialSweep }: { initial: RunForm; initialSweep: boolean }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const targets = useComputeTargets();
  const experiments = useExperiments();
  const [form, setForm] = useState<RunForm>(initial);
  const [sweepOn, setSweepOn] = useState(initialSweep);
  const [sweep, setSweep] = useState<SweepForm>(emptySweepForm);
  const [bundle, setBundle] = useState<SourceBundle | null>(null);
  const limits = useUploadLimits();
  const snapshotTooLarge = (b: SourceBundle) =>
    limits.data
      ? overLimit("The snapshot", b.file.size, b.paths?.length ?? null, limits.data.snapshot_max_bytes, limits.data.snapshot_max_files)
      : null;
  const [errors, setErrors] = useState<FieldErrors>({});
  const [progress, setProgress] = useState<number | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  const summary = useRef<HTMLDivElement>(null);
  const target = targets.data?.find((t) => t.name === form.computeTarget);
  const scripts = useMemo(() => (bundle?.paths ? scriptCandidates(bundle.paths) : []), [bundle]);

  // After the render that fills it: an empty summary is hidden and cannot take focus.
  const focusSummary = () => window.requestAnimationFrame(() => summary.current?.focus());

  const update = (change: Partial<RunForm>) => {
    setForm((f) => ({ ...f, ...change }));
    // An edited field's old messages no longer apply; the others stay until the next submit.
    const stale = Object.keys(change).flatMap((key) => ERROR_PATHS[key as keyof RunForm] ?? []);
    if (stale.length)
      setErrors((current) => {
        const kept = Object.entries(current).filter(([path]) => !stale.some((p) => path === p || path.startsWith(`${p}.`)));
        return kept.length === Object.keys(current).length ? current : Object.fromEntries(kept);
      });
  };
  const at = (path: string) => errors[path];
  const updateSweep = (change: Partial<SweepForm>) => {
    setSweep((current) => ({ ...current, ...change }));
    // The editor re-checks as it is typed: its messages follow the values, not the last submit.
    setErrors((current) => {
      const kept = Object.entries(current).filter(([path]) => !SWEEP_FIELDS.some((p) => path === p || path.startsWith(`${p}.`)));
      return Object.fromEntries(kept);
    });
  };

  useEffect(() => () => abort.current?.abort(), []);

  const chooseBundle = (next: SourceBundle | null) => {
    setBundle(next);
    const tooLarge = next ? snapshotTooLarge(next) : null;
    setErrors(({ snapshot: _snapshot, resubmit_of: _resubmit, ...rest }) => (tooLarge ? { ...rest, snapshot: [tooLarge] } : rest));
    if (next?.paths && (!form.script || !next.paths.includes(form.script))) update({ script: guessScript(next.paths) });
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    const found = { ...validateRunForm(form, !!bundle, target), ...(sweepOn ? validateSweep(sweep) : {}) };
    const tooLarge = bundle ? snapshotTooLarge(bundle) : null;
    if (tooLarge) found.snapshot = [tooLarge];
    setErrors(found);
    if (Object.keys(found).length) {
      focusSummary();
      return;
    }
    abort.current = new AbortController();
    setProgress(0);
    try {
      const body = submissionForm(form, bundle?.file ?? null);
      const onProgress = (p: { loaded: number; total: number }) => setProgress(p.total ? p.loaded / p.total : 0);
      if (sweepOn) {
        body.append("hyperdrive", JSON.stringify(hyperdrivePayload(sweep)));
        const created = await uploadWithProgress<Sweep>("/api/sweeps/", body, onProgress, abort.current.signal);
        queryClient.setQueryData(["sweep", created.id], created);
        void queryClient.invalidateQueries({ queryKey: ["sweeps"] });
        navigate(`/sweeps/${created.id}`);
        return;
      }
      const run = await uploadWithProgress<RunDetail>("/api/runs/", body, onProgress, abort.current.signal);
      queryClient.setQueryData(["run", run.id], run);
      void queryClient.invalidateQueries({ queryKey: ["runs"] });
      void queryClient.invalidateQueries({ queryKey: ["experiments"] });
      navigate(`/runs/${run.id}?tab=logs`);
    } catch (error) {
      setProgress(null);
      if (error instanceof DOMException && error.name === "AbortError") return;
      if (error instanceof ApiError && error.status === 400) {
        setErrors(error.fieldErrors);
        focusSummary();
      } else setFailure(error);
    }
  };

  const problems = unclaimedErrors(errors, sweepOn ? [...SHOWN_FIELDS, ...SWEEP_FIELDS] : SHOWN_FIELDS);
  const errorCount = Object.keys(errors).length;
  const submitting = progress !== null;

  return (
    <section className="page page-narrow">
      <header className="page-header">
        <div>
          <div className="crumbs">
            <Link to="/runs">Runs</Link> / <span>{form.resubmitOf ? `Resubmit #${form.resubmitOf}` : "New run"}</span>
          </div>
          <h1>{form.resubmitOf ? `Resubmit run #${form.resubmitOf}` : sweepOn ? "New sweep" : "New run"}</h1>
          <p className="muted">A snapshot of your code, a script, and where and how to run it.</p>
        </div>
      </header>
      <form onSubmit={submit} noValidate className="form">
        <div ref={summary} tabIndex={-1} aria-live="polite" className="form-summary">
          {errorCount > 0 && (
            <div className="notice notice-danger" role="alert">
              <strong>
                {errorCount === 1 ? "One field needs" : `${errorCount} fields need`} attention before this run can start.
              </strong>
              {problems.length > 0 && <FieldErrorList errors={problems} />}
            </div>
          )}
          {failure != null && <ErrorNotice error={failure} />}
        </div>

        <section className="card form-section">
          <h2 className="card-title">Code</h2>
          <SourcePicker
            bundle={bundle}
            onBundle={chooseBundle}
            errors={[...(at("snapshot") ?? []), ...(at("resubmit_of") ?? [])]}
            resubmitOf={form.resubmitOf}
          />
          <Field
            label="Script"
            errors={at("script")}
            hint={scripts.length ? `${scripts.length} runnable files in the snapshot` : "Path inside the snapshot, e.g. train.py"}
          >
            {(props) =>
              scripts.length ? (
                <select {...props} name="script" value={form.script} onChange={(e) => update({ script: e.target.value })}>
                  {!scripts.includes(form.script) && <option value={form.script}>{form.script || "Choose…"}</option>}
                  {scripts.map((path) => (
                    <option key={path} value={path}>
                      {path}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  {...props}
                  name="script"
                  className="mono"
                  placeholder="train.py"
                  value={form.script}
                  onChange={(e) => update({ script: e.target.value })}
                />
              )
            }
          </Field>
          <div className="field">
            <span className="label">Arguments</span>
            <ArgumentsEditor
              items={form.arguments}
              onChange={(args) => update({ arguments: args })}
              errorsAt={(index) => at(`arguments.${index}`)}
            />
            <FieldErrorList errors={at("arguments")} />
          </div>
        </section>

        <section className="card form-section">
          <h2 className="card-title">Where and how</h2>
          <EnvironmentPicker
            name={form.environment}
            version={form.environmentVersion}
            onChange={(environment, environmentVersion) => update({ environment, environmentVersion })}
            errors={at("environment")}
            versionErrors={at("environment_version")}
          />
          {targets.isPending ? (
            <Spinner label="Loading compute targets…" />
          ) : targets.isError ? (
            <ErrorNotice error={targets.error} />
          ) : (
            <ComputePicker
              targets={targets.data}
              value={form.computeTarget}
              onChange={(computeTarget) => update({ computeTarget })}
              errors={at("compute_target")}
            />
          )}
          <DistributedEditor
            value={form.distributed}
            onChange={(distributed) => update({ distributed })}
            errorsAt={at}
            target={target}
          />
          <EnvironmentFit name={form.environment} version={form.environmentVersion} type={form.distributed.type} />
        </section>

        <section className="card form-section" aria-label="Sweep">
          <h2 className="card-title">Sweep</h2>
          <label className="check">
            <input type="checkbox" name="as_sweep" checked={sweepOn} onChange={(e) => setSweepOn(e.target.checked)} /> Run as a
            sweep: one child run per sampled point (Azure's HyperDrive)
          </label>
          {sweepOn && <SweepEditor value={sweep} onChange={updateSweep} errors={errors} />}
        </section>

        <section className="card form-section">
          <h2 className="card-title">Bookkeeping</h2>
          <div className="field-row">
            <Field label="Experiment" errors={at("experiment")} hint="Groups related runs; created if new.">
              {(props) => (
                <>
                  <input
                    {...props}
                    name="experiment"
                    list="experiment-names"
                    value={form.experiment}
                    onChange={(e) => update({ experiment: e.target.value })}
                  />
                  <datalist id="experiment-names">
                    {experiments.data?.map((exp) => <option key={exp.id} value={exp.name} />)}
                  </datalist>
                </>
              )}
            </Field>
            <Field label="Display name" errors={at("display_name")} hint="Optional">
              {(props) => (
                <input {...props} name="display_name" value={form.displayName} onChange={(e) => update({ displayName: e.target.value })} />
              )}
            </Field>
          </div>
          <div className="field">
            <span className="label">Tags</span>
            <KeyValueEditor
              items={form.tags}
              onChange={(tags) => update({ tags })}
              keyLabel="Tag"
              valueLabel="Value"
              addLabel="Tag"
              errorsAt={(index) => at(`tags.${index}`)}
            />
            <FieldErrorList errors={at("tags")} />
          </div>
          <Field label="Maximum duration" errors={at("max_run_duration_seconds")} hint="The run is canceled when it runs longer. Empty: no limit.">
            {(props) => (
              <div className="input-group">
                <input
                  {...props}
                  type="number"
                  min={1}
                  name="max_duration"
                  value={form.maxDuration}
                  onChange={(e) => update({ maxDuration: e.target.value })}
                />
                <select
                  aria-label="Unit"
                  value={form.maxDurationUnit}
                  onChange={(e) => update({ maxDurationUnit: e.target.value as RunForm["maxDurationUnit"] })}
                >
                  <option value="minutes">minutes</option>
                  <option value="hours">hours</option>
                </select>
              </div>
            )}
          </Field>
          <label className="checkbox">
            <input type="checkbox" name="preemptible" checked={form.preemptible} onChange={(e) => update({ preemptible: e.target.checked })} />{" "}
            Preemptible{" "}
            <span className="muted small">
              — the scheduler may stop it (SIGTERM, then a grace period) for a higher-priority or under-share run; it resumes later
              with its checkpoint dir
            </span>
          </label>
        </section>

        <div className="form-actions">
          {submitting ? (
            <div className="submit-progress">
              <span>
                {progress! < 1
                  ? `Uploading ${bundle ? formatBytes(bundle.file.size) : "run"}…`
                  : sweepOn
                    ? "Starting the sweep…"
                    : "Starting the run…"}
              </span>
              <ProgressBar value={progress!} label="Upload progress" />
              <button type="button" className="btn" onClick={() => abort.current?.abort()}>
                Stop upload
              </button>
            </div>
          ) : (
            <>
              <button type="submit" className="btn btn-primary">
                {sweepOn ? "Start sweep" : "Submit run"}
              </button>
              <Link to="/runs" className="btn btn-ghost">
                Cancel
              </Link>
            </>
          )}
        </div>
      </form>
    </section>
  );
}
