import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { emptySweepForm, validateSweep, type SweepForm } from "../../lib/sweeps";
import { SweepEditor } from "./SweepEditor";

/** The editor as the New run form uses it: errors recomputed from the values as they change. */
function Harness({ server = {} }: { server?: Record<string, string[]> }) {
  const [value, setValue] = useState<SweepForm>(emptySweepForm());
  const errors = { ...server, ...validateSweep(value) };
  return <SweepEditor value={value} onChange={(change) => setValue((v) => ({ ...v, ...change }))} errors={errors} />;
}

test("a distribution's arguments follow its kind and are checked as typed", () => {
  render(<Harness />);
  expect(screen.getByLabelText("Parameter 1 min_value")).toHaveValue("-6");
  fireEvent.change(screen.getByLabelText("Parameter 1 distribution"), { target: { value: "qnormal" } });
  expect(screen.getByLabelText("Parameter 1 mu")).toBeInTheDocument();
  expect(screen.getByLabelText("Parameter 1 q")).toBeInTheDocument();
  expect(screen.getByText("q: Must be positive.")).toBeInTheDocument();
  fireEvent.change(screen.getByLabelText("Parameter 1 q"), { target: { value: "2" } });
  expect(screen.queryByText("q: Must be positive.")).not.toBeInTheDocument();
});

test("grid sampling offers choice only and says so for other kinds", () => {
  render(<Harness />);
  fireEvent.change(screen.getByLabelText("Sampling"), { target: { value: "GRID" } });
  expect(screen.getByText("GRID sampling supports choice only.")).toBeInTheDocument();
  const uniform = screen.getByRole("option", { name: "uniform" }) as HTMLOptionElement;
  expect(uniform.disabled).toBe(true);
  fireEvent.change(screen.getByLabelText("Parameter 1 distribution"), { target: { value: "choice" } });
  fireEvent.change(screen.getByLabelText("Parameter 1 options"), { target: { value: "16, 32" } });
  expect(screen.queryByText(/supports choice only/)).not.toBeInTheDocument();
});

test("a server error on a parameter shows on its row", () => {
  render(<Harness server={{ "hyperparameter_sampling.parameter_space.learning_rate": ["Too many points."] }} />);
  expect(screen.getByText("Too many points.")).toBeInTheDocument();
});
