import type { MetricSeries } from "../api/types";
import { formatMetric, modelPathChoices, previewable, seriesUntil, suggestedModelName } from "./models";

test("artifact paths offer their folders first, then the files", () => {
  const choices = modelPathChoices(["outputs/model/w.bin", "outputs/model/config.json", "outputs/cm.png", "log.txt"]);
  expect(choices).toEqual([
    "outputs/",
    "outputs/model/",
    "log.txt",
    "outputs/cm.png",
    "outputs/model/config.json",
    "outputs/model/w.bin",
  ]);
});

test("a model name is suggested from the path", () => {
  expect(suggestedModelName("outputs/model.pkl")).toBe("model");
  expect(suggestedModelName("outputs/my model/")).toBe("my-model");
  expect(suggestedModelName("outputs/.hidden")).toBe("");
});

test("series stop at the registration time and use steps when every point has one", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const series: MetricSeries = {
    loss: [
      { kind: "scalar", value: 1, payload: null, step: 0, at: at(1) },
      { kind: "scalar", value: 0.5, payload: null, step: 1, at: at(2) },
      { kind: "scalar", value: 0.1, payload: null, step: 2, at: at(9) },
    ],
    acc: [
      { kind: "scalar", value: 0.2, payload: null, step: null, at: at(1) },
      { kind: "scalar", value: 0.4, payload: null, step: 3, at: at(2) },
    ],
    once: [{ kind: "scalar", value: 3, payload: null, step: null, at: at(1) }],
    text: [{ kind: "text", value: null, payload: "adam", step: null, at: at(1) }],
  };
  expect(seriesUntil(series, at(5))).toEqual([
    { name: "acc", xs: [0, 1], ys: [0.2, 0.4], byStep: false },
    { name: "loss", xs: [0, 1], ys: [1, 0.5], byStep: true },
  ]);
  expect(seriesUntil(series, at(10), ["loss"]).map((s) => s.ys)).toEqual([[1, 0.5, 0.1]]);
});

test("binary files are not previewed, values are formatted", () => {
  expect(previewable({ path: "model/weights.pt", size: 10, sha256: "" })).toBe(false);
  expect(previewable({ path: "model/config.json", size: 10, sha256: "" })).toBe(true);
  expect(formatMetric(0.25)).toBe("0.25");
  expect(formatMetric(3)).toBe("3");
  expect(formatMetric("adam")).toBe("adam");
});
