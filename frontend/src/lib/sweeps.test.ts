import { describe, expect, it } from "vitest";
import { axisValues, emptySweepForm, hyperdrivePayload, validateParameter, validateSweep, wantsLogScale } from "./sweeps";

describe("sweep parameter space", () => {
  it("checks each distribution's arguments by the server's field names", () => {
    const at = "hyperparameter_sampling.parameter_space.lr";
    expect(validateParameter({ name: "lr", kind: "uniform", args: ["1", "0"] }, "RANDOM")).toEqual({
      [`${at}.min_value`]: ["Must be less than max_value."],
    });
    expect(validateParameter({ name: "lr", kind: "loguniform", args: ["-6", "-1"] }, "RANDOM")).toEqual({});
    expect(validateParameter({ name: "lr", kind: "qnormal", args: ["0", "-1", "0"] }, "RANDOM")).toEqual({
      [`${at}.sigma`]: ["Must not be negative."],
      [`${at}.q`]: ["Must be positive."],
    });
    expect(validateParameter({ name: "lr", kind: "randint", args: ["2.5"] }, "RANDOM")).toHaveProperty(`${at}.upper`);
    expect(validateParameter({ name: "lr", kind: "choice", args: ["1, 2, 1"] }, "GRID")).toHaveProperty(at);
    expect(validateParameter({ name: "lr", kind: "uniform", args: ["0", "1"] }, "GRID")[at][0]).toMatch(/choice only/);
  });

  it("builds Azure's JSON", () => {
    const form = {
      ...emptySweepForm(),
      sampling: "GRID" as const,
      parameters: [{ name: "bs", kind: "choice" as const, args: ["16, 32, adam, true"] }],
      policy: "Bandit" as const,
      slack: "0.2",
      seed: "7",
    };
    expect(validateSweep(form)).toEqual({});
    expect(hyperdrivePayload(form)).toEqual({
      hyperparameter_sampling: { name: "GRID", parameter_space: { bs: ["choice", [[16, 32, "adam", true]]] } },
      primary_metric_config: { name: "accuracy", goal: "maximize" },
      max_total_runs: 10,
      max_concurrent_runs: 2,
      seed: 7,
      policy: { name: "Bandit", properties: { evaluation_interval: 1, delay_evaluation: 0, slack_factor: 0.2 } },
    });
  });

  it("refuses duplicate names and bad limits", () => {
    const row = { name: "a", kind: "uniform" as const, args: ["0", "1"] };
    const errors = validateSweep({ ...emptySweepForm(), parameters: [row, row], maxTotalRuns: "0", metric: "" });
    expect(Object.keys(errors).sort()).toEqual(["max_total_runs", "parameters.1", "primary_metric_name"]);
  });
});

describe("chart helpers", () => {
  it("places categorical values by first appearance", () => {
    expect(axisValues(["adam", "sgd", "adam"])).toEqual({ positions: [0, 1, 0], labels: ["adam", "sgd"] });
    expect(axisValues([0.1, 2])).toEqual({ positions: [0.1, 2], labels: null });
  });
  it("uses a log scale for values spread over orders of magnitude", () => {
    expect(wantsLogScale([0.001, 0.5])).toBe(true);
    expect(wantsLogScale([1, 5])).toBe(false);
    expect(wantsLogScale([-1, 500])).toBe(false);
  });
});
