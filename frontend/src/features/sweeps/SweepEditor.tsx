import { Field, FieldErrorList } from "../../components/Field";
import type { FieldErrors } from "../../lib/fieldErrors";
import {
  DISTRIBUTIONS,
  SUPPORTED,
  type DistributionKind,
  type ParameterRow,
  type PolicyName,
  type SamplingName,
  type SweepForm,
} from "../../lib/sweeps";

const KINDS = Object.keys(DISTRIBUTIONS) as DistributionKind[];
const SPACE = "hyperparameter_sampling.parameter_space";

/** The sweep half of the New run form: the parameter space (each distribution checked as
 * it is typed), the sampling, the primary metric, the policy and the limits. */
export function SweepEditor({
  value,
  onChange,
  errors,
}: {
  value: SweepForm;
  onChange: (change: Partial<SweepForm>) => void;
  errors: FieldErrors;
}) {
  const allowed = SUPPORTED[value.sampling];
  const setRow = (index: number, row: Partial<ParameterRow>) =>
    onChange({ parameters: value.parameters.map((r, i) => (i === index ? { ...r, ...row } : r)) });
  const rowErrors = (row: ParameterRow, index: number) => {
    const prefix = `${SPACE}.${row.name || "?"}`;
    return [
      ...(errors[`parameters.${index}`] ?? []),
      ...Object.entries(errors)
        .filter(([path]) => path === prefix || path.startsWith(`${prefix}.`))
        .flatMap(([path, messages]) => messages.map((m) => (path === prefix ? m : `${path.slice(prefix.length + 1)}: ${m}`))),
    ];
  };
  return (
    <div className="sweep-editor" data-testid="sweep-editor">
      <div className="field-row">
        <Field label="Sampling" errors={errors["hyperparameter_sampling.name"]} hint="Grid takes choice only; Bayesian choice, uniform, quniform.">
          {(props) => (
            <select {...props} value={value.sampling} onChange={(e) => onChange({ sampling: e.target.value as SamplingName })}>
              <option value="RANDOM">Random</option>
              <option value="GRID">Grid (every combination once)</option>
              <option value="BayesianOptimization">Bayesian (TPE)</option>
            </select>
          )}
        </Field>
        <Field label="Seed" errors={errors.seed} hint="Empty: drawn and recorded, so the sweep can be replayed.">
          {(props) => <input {...props} name="seed" inputMode="numeric" value={value.seed} onChange={(e) => onChange({ seed: e.target.value })} />}
        </Field>
      </div>

      <div className="field">
        <span className="label">Parameter space</span>
        <p className="muted small">Each child gets its point appended to the arguments: --name value.</p>
        <FieldErrorList errors={errors[SPACE]} />
        {value.parameters.map((row, index) => {
          const spec = DISTRIBUTIONS[row.kind];
          const problems = rowErrors(row, index);
          return (
            <div className="param-row" key={index} data-testid="param-row">
              <input
                aria-label={`Parameter ${index + 1} name`}
                className="mono"
                placeholder="learning_rate"
                value={row.name}
                onChange={(e) => setRow(index, { name: e.target.value })}
              />
              <select
                aria-label={`Parameter ${index + 1} distribution`}
                value={row.kind}
                onChange={(e) => {
                  const kind = e.target.value as DistributionKind;
                  setRow(index, { kind, args: DISTRIBUTIONS[kind].args.map((_, i) => row.args[i] ?? "") });
                }}
              >
                {KINDS.map((k) => (
                  <option key={k} value={k} disabled={!!allowed && !allowed.includes(k)}>
                    {k}
                  </option>
                ))}
              </select>
              {spec.args.map((arg, i) => (
                <input
                  key={arg}
                  aria-label={`Parameter ${index + 1} ${arg}`}
                  placeholder={arg === "options" ? "16, 32, 64" : arg}
                  className={arg === "options" ? "mono param-options" : "mono param-arg"}
                  value={row.args[i] ?? ""}
                  onChange={(e) => setRow(index, { args: spec.args.map((_, j) => (j === i ? e.target.value : (row.args[j] ?? ""))) })}
                />
              ))}
              <button
                type="button"
                className="btn btn-ghost"
                aria-label={`Remove parameter ${index + 1}`}
                onClick={() => onChange({ parameters: value.parameters.filter((_, i) => i !== index) })}
              >
                ×
              </button>
              <span className="muted small param-help">{spec.help}</span>
              {problems.length > 0 && <FieldErrorList errors={problems} />}
            </div>
          );
        })}
        <button
          type="button"
          className="btn"
          onClick={() => onChange({ parameters: [...value.parameters, { name: "", kind: allowed ? allowed[0] : "uniform", args: ["", ""] }] })}
        >
          + Parameter
        </button>
      </div>

      <div className="field-row">
        <Field label="Primary metric" errors={errors.primary_metric_name ?? errors["primary_metric_config.name"]} hint="What the script logs with run.log().">
          {(props) => <input {...props} name="primary_metric" value={value.metric} onChange={(e) => onChange({ metric: e.target.value })} />}
        </Field>
        <Field label="Goal" errors={errors.primary_metric_goal}>
          {(props) => (
            <select {...props} value={value.goal} onChange={(e) => onChange({ goal: e.target.value as SweepForm["goal"] })}>
              <option value="maximize">Maximize</option>
              <option value="minimize">Minimize</option>
            </select>
          )}
        </Field>
      </div>

      <div className="field-row">
        <Field label="Early termination" errors={errors["policy.name"]}>
          {(props) => (
            <select {...props} value={value.policy} onChange={(e) => onChange({ policy: e.target.value as PolicyName })}>
              <option value="Default">None (NoTerminationPolicy)</option>
              <option value="Bandit">Bandit</option>
              <option value="MedianStopping">Median stopping</option>
              <option value="TruncationSelection">Truncation selection</option>
            </select>
          )}
        </Field>
        {value.policy !== "Default" && (
          <>
            <Field label="Evaluation interval" errors={errors["policy.evaluation_interval"]}>
              {(props) => (
                <input {...props} inputMode="numeric" value={value.evaluationInterval} onChange={(e) => onChange({ evaluationInterval: e.target.value })} />
              )}
            </Field>
            <Field label="Delay evaluation" errors={errors["policy.delay_evaluation"]}>
              {(props) => (
                <input {...props} inputMode="numeric" value={value.delayEvaluation} onChange={(e) => onChange({ delayEvaluation: e.target.value })} />
              )}
            </Field>
          </>
        )}
      </div>
      {value.policy === "Bandit" && (
        <div className="field-row">
          <Field label="Slack" errors={errors[`policy.${value.slackKind}`]}>
            {(props) => (
              <div className="input-group">
                <select aria-label="Slack kind" value={value.slackKind} onChange={(e) => onChange({ slackKind: e.target.value as SweepForm["slackKind"] })}>
                  <option value="slack_factor">slack_factor (ratio)</option>
                  <option value="slack_amount">slack_amount (absolute)</option>
                </select>
                <input {...props} inputMode="decimal" value={value.slack} onChange={(e) => onChange({ slack: e.target.value })} />
              </div>
            )}
          </Field>
        </div>
      )}
      {value.policy === "TruncationSelection" && (
        <Field label="Truncation percentage" errors={errors["policy.truncation_percentage"]}>
          {(props) => (
            <input {...props} inputMode="numeric" value={value.truncationPercentage} onChange={(e) => onChange({ truncationPercentage: e.target.value })} />
          )}
        </Field>
      )}

      <div className="field-row">
        <Field label="Max total runs" errors={errors.max_total_runs}>
          {(props) => <input {...props} name="max_total_runs" inputMode="numeric" value={value.maxTotalRuns} onChange={(e) => onChange({ maxTotalRuns: e.target.value })} />}
        </Field>
        <Field label="Max concurrent runs" errors={errors.max_concurrent_runs}>
          {(props) => (
            <input {...props} name="max_concurrent_runs" inputMode="numeric" value={value.maxConcurrentRuns} onChange={(e) => onChange({ maxConcurrentRuns: e.target.value })} />
          )}
        </Field>
        <Field label="Max duration (minutes)" errors={errors.max_duration_minutes} hint="Empty: a week">
          {(props) => (
            <input {...props} inputMode="numeric" value={value.maxDurationMinutes} onChange={(e) => onChange({ maxDurationMinutes: e.target.value })} />
          )}
        </Field>
      </div>
    </div>
  );
}
