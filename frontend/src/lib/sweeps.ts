// Sweeps in the browser: the parameter-space editor's model and checks (the server's
// sweeps.space has the same rules and the last word), and shaping children for charts.
import type { FieldErrors } from "./fieldErrors";

export type DistributionKind =
  | "choice"
  | "randint"
  | "uniform"
  | "quniform"
  | "loguniform"
  | "qloguniform"
  | "normal"
  | "qnormal"
  | "lognormal"
  | "qlognormal";

/** The arguments each kind takes, in Azure's order, with what they mean. */
export const DISTRIBUTIONS: Record<DistributionKind, { args: string[]; help: string }> = {
  choice: { args: ["options"], help: "one of the comma-separated values" },
  randint: { args: ["upper"], help: "an integer in [0, upper)" },
  uniform: { args: ["min_value", "max_value"], help: "a number in [min, max]" },
  quniform: { args: ["min_value", "max_value", "q"], help: "round(uniform(min, max) / q) · q" },
  loguniform: { args: ["min_value", "max_value"], help: "exp(uniform(min, max)): the bounds are exponents" },
  qloguniform: { args: ["min_value", "max_value", "q"], help: "round(exp(uniform(min, max)) / q) · q" },
  normal: { args: ["mu", "sigma"], help: "normally distributed" },
  qnormal: { args: ["mu", "sigma", "q"], help: "round(normal(mu, sigma) / q) · q" },
  lognormal: { args: ["mu", "sigma"], help: "exp(normal(mu, sigma))" },
  qlognormal: { args: ["mu", "sigma", "q"], help: "round(exp(normal(mu, sigma)) / q) · q" },
};

export type SamplingName = "RANDOM" | "GRID" | "BayesianOptimization";

/** Which kinds a sampling accepts (Azure's rules). */
export const SUPPORTED: Record<SamplingName, DistributionKind[] | null> = {
  RANDOM: null,
  GRID: ["choice"],
  BayesianOptimization: ["choice", "uniform", "quniform"],
};

export interface ParameterRow {
  name: string;
  kind: DistributionKind;
  /** Text of each argument; for choice, one comma-separated list. */
  args: string[];
}

export type PolicyName = "Default" | "Bandit" | "MedianStopping" | "TruncationSelection";

export interface SweepForm {
  sampling: SamplingName;
  parameters: ParameterRow[];
  seed: string;
  metric: string;
  goal: "maximize" | "minimize";
  policy: PolicyName;
  evaluationInterval: string;
  delayEvaluation: string;
  slackKind: "slack_factor" | "slack_amount";
  slack: string;
  truncationPercentage: string;
  maxTotalRuns: string;
  maxConcurrentRuns: string;
  maxDurationMinutes: string;
}

export function emptySweepForm(): SweepForm {
  return {
    sampling: "RANDOM",
    parameters: [{ name: "learning_rate", kind: "loguniform", args: ["-6", "-1"] }],
    seed: "",
    metric: "accuracy",
    goal: "maximize",
    policy: "Default",
    evaluationInterval: "1",
    delayEvaluation: "0",
    slackKind: "slack_factor",
    slack: "0.1",
    truncationPercentage: "20",
    maxTotalRuns: "10",
    maxConcurrentRuns: "2",
    maxDurationMinutes: "",
  };
}

function parseOption(text: string): string | number | boolean {
  const t = text.trim();
  if (t === "true" || t === "false") return t === "true";
  if (t !== "" && Number.isFinite(Number(t))) return Number(t);
  return t;
}

export function choiceOptions(text: string): (string | number | boolean)[] {
  return text.split(",").map((o) => o.trim()).filter((o) => o !== "").map(parseOption);
}

const number = (text: string) => (text.trim() === "" ? NaN : Number(text));

/** Problems with one parameter, keyed as the server names them (parameter_space.NAME[.arg]). */
export function validateParameter(row: ParameterRow, sampling: SamplingName): FieldErrors {
  const at = `hyperparameter_sampling.parameter_space.${row.name || "?"}`;
  const errors: FieldErrors = {};
  const allowed = SUPPORTED[sampling];
  if (allowed && !allowed.includes(row.kind)) {
    errors[at] = [`${sampling} sampling supports ${allowed.join(", ")} only.`];
    return errors;
  }
  if (row.kind === "choice") {
    const options = choiceOptions(row.args[0] ?? "");
    if (!options.length) errors[at] = ["List at least one option, separated by commas."];
    else if (new Set(options.map(String)).size !== options.length) errors[at] = ["Options must be distinct."];
    return errors;
  }
  if (row.kind === "randint") {
    const upper = number(row.args[0] ?? "");
    if (!Number.isInteger(upper) || upper <= 0) errors[`${at}.upper`] = ["Must be a positive integer."];
    return errors;
  }
  const [a, b, q] = [0, 1, 2].map((i) => number(row.args[i] ?? ""));
  const [first, second] = DISTRIBUTIONS[row.kind].args;
  if (!Number.isFinite(a)) errors[`${at}.${first}`] = ["Enter a number."];
  if (!Number.isFinite(b)) errors[`${at}.${second}`] = ["Enter a number."];
  if (Number.isFinite(a) && Number.isFinite(b)) {
    if (row.kind.endsWith("normal")) {
      if (b < 0) errors[`${at}.sigma`] = ["Must not be negative."];
    } else if ((row.kind === "uniform" || row.kind === "quniform") && a >= b) {
      errors[`${at}.min_value`] = ["Must be less than max_value."];
    } else if (row.kind.endsWith("loguniform")) {
      if (a > b) errors[`${at}.min_value`] = ["Must not exceed max_value."];
      else if (Math.max(Math.abs(a), Math.abs(b)) > 700) errors[at] = ["The bounds are exponents: keep them within ±700."];
    }
  }
  if (row.kind.startsWith("q") && !(q > 0)) errors[`${at}.q`] = ["Must be positive."];
  if (sampling === "BayesianOptimization" && row.kind === "quniform" && ![a, b, q].every(Number.isInteger))
    errors[at] = ["Bayesian quniform takes integers."];
  return errors;
}

const positive = (text: string) => /^\d+$/.test(text.trim()) && Number(text) >= 1;

export function validateSweep(form: SweepForm): FieldErrors {
  const errors: FieldErrors = {};
  if (!form.parameters.length) errors["hyperparameter_sampling.parameter_space"] = ["Add at least one parameter."];
  const names = new Set<string>();
  form.parameters.forEach((row, index) => {
    if (!row.name.trim() || /\s/.test(row.name)) errors[`parameters.${index}`] = ["Name it (no spaces)."];
    else if (names.has(row.name)) errors[`parameters.${index}`] = [`'${row.name}' is used twice.`];
    names.add(row.name);
    Object.assign(errors, validateParameter(row, form.sampling));
  });
  if (!form.metric.trim()) errors.primary_metric_name = ["Name the metric your script logs."];
  if (!positive(form.maxTotalRuns)) errors.max_total_runs = ["Enter a whole number of at least 1."];
  if (form.maxConcurrentRuns.trim() && !positive(form.maxConcurrentRuns))
    errors.max_concurrent_runs = ["Enter a whole number of at least 1."];
  if (form.maxDurationMinutes.trim() && !positive(form.maxDurationMinutes))
    errors.max_duration_minutes = ["Enter whole minutes, or leave empty for a week."];
  if (form.seed.trim() && !/^\d+$/.test(form.seed.trim())) errors.seed = ["Enter a non-negative integer, or leave empty."];
  if (form.policy !== "Default") {
    if (!positive(form.evaluationInterval)) errors["policy.evaluation_interval"] = ["Enter a whole number of at least 1."];
    if (!/^\d+$/.test(form.delayEvaluation.trim())) errors["policy.delay_evaluation"] = ["Enter a whole number."];
    if (form.policy === "Bandit" && !(number(form.slack) >= 0)) errors[`policy.${form.slackKind}`] = ["Enter a number ≥ 0."];
    if (form.policy === "TruncationSelection") {
      const pct = number(form.truncationPercentage);
      if (!Number.isInteger(pct) || pct < 1 || pct > 99) errors["policy.truncation_percentage"] = ["Enter 1 to 99."];
    }
  }
  return errors;
}

/** Azure's JSON for one parameter: ["uniform", [0.01, 0.1]], ["choice", [[16, 32]]]. */
export function distributionJson(row: ParameterRow): [string, unknown[]] {
  if (row.kind === "choice") return ["choice", [choiceOptions(row.args[0] ?? "")]];
  const count = DISTRIBUTIONS[row.kind].args.length;
  return [row.kind, row.args.slice(0, count).map((a) => Number(a))];
}

/** The ``hyperdrive`` field of POST /api/sweeps/. */
export function hyperdrivePayload(form: SweepForm): Record<string, unknown> {
  const space = Object.fromEntries(form.parameters.map((row) => [row.name.trim(), distributionJson(row)]));
  const sampling: Record<string, unknown> = { name: form.sampling, parameter_space: space };
  const out: Record<string, unknown> = {
    hyperparameter_sampling: sampling,
    primary_metric_config: { name: form.metric.trim(), goal: form.goal },
    max_total_runs: Number(form.maxTotalRuns),
  };
  if (form.maxConcurrentRuns.trim()) out.max_concurrent_runs = Number(form.maxConcurrentRuns);
  if (form.maxDurationMinutes.trim()) out.max_duration_minutes = Number(form.maxDurationMinutes);
  if (form.seed.trim()) out.seed = Number(form.seed);
  if (form.policy === "Default") out.policy = { name: "Default" };
  else {
    const properties: Record<string, number> = {
      evaluation_interval: Number(form.evaluationInterval),
      delay_evaluation: Number(form.delayEvaluation),
    };
    if (form.policy === "Bandit") properties[form.slackKind] = Number(form.slack);
    if (form.policy === "TruncationSelection") properties.truncation_percentage = Number(form.truncationPercentage);
    out.policy = { name: form.policy, properties };
  }
  return out;
}

/** A parameter's values across children as numbers for an axis: numbers as they are,
 * other values (choice strings, booleans) by their order of first appearance. */
export function axisValues(values: unknown[]): { positions: number[]; labels: string[] | null } {
  if (values.every((v) => typeof v === "number")) return { positions: values as number[], labels: null };
  const labels: string[] = [];
  const positions = values.map((v) => {
    const key = String(v);
    let at = labels.indexOf(key);
    if (at < 0) at = labels.push(key) - 1;
    return at;
  });
  return { positions, labels };
}

/** Whether values spread over orders of magnitude (draw them on a log scale). */
export function wantsLogScale(values: number[]): boolean {
  const positive = values.filter((v) => v > 0);
  if (positive.length < 2 || positive.length !== values.length) return false;
  return Math.max(...positive) / Math.min(...positive) >= 100;
}
