import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen } from "@testing-library/react";
import { afterEach, expect, test, vi } from "vitest";
import type { RunDetail } from "../../api/types";
import { MemoryRouter } from "react-router-dom";
import { AttemptsPanel, CauseBadge, CauseEvidence } from "./FailureCause";

const json = (body: unknown) =>
  Promise.resolve(new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } }));

afterEach(() => vi.restoreAllMocks());

test("the badge names the cause and is absent without one", () => {
  const { container, rerender } = render(<CauseBadge cause="oom" />);
  expect(screen.getByText("Out of memory").dataset.cause).toBe("oom");
  rerender(<CauseBadge cause="" />);
  expect(container.textContent).toBe("");
});

test("the evidence shows the traceback's frames and the exception", () => {
  render(
    <CauseEvidence
      cause="user_error"
      evidence={{
        summary: "The script raised ValueError: bad",
        exit_code: 1,
        exception: "ValueError: bad",
        frames: [{ file: "train.py", line: 3, function: "load", code: "raise ValueError('bad')" }],
      }}
    />,
  );
  expect(screen.getByRole("region", { name: "Failure cause" })).toHaveTextContent("Error in the script");
  expect(screen.getByLabelText("Traceback").textContent).toBe(
    `File "train.py", line 3, in load\n    raise ValueError('bad')\nValueError: bad`,
  );
});

test("attempts are listed with each attempt's own log", async () => {
  const attempt = (number: number, status: string, cause: string) => ({
    number, started_at: "2026-01-01T00:00:00Z", ended_at: null, status, cause, cause_evidence: {},
    exit_code: cause ? 3 : 0, error: "", first_seq: number, last_seq: number, log_lines: 1, worker: "w", resumed: false,
    checkpoint: {},
  });
  const fetch = vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const url = String(input);
    if (url.includes("/attempts/")) return json([attempt(1, "Failed", "node_lost"), attempt(2, "Completed", "")]);
    return json({ run: 5, status: "Completed", last_seq: 2, next_after: 1, lines: [{ seq: 1, rank: 0, stream: "stdout", text: "first try", at: "" }] });
  });
  const run = { id: 5, attempt: 2, status: "Completed" } as RunDetail;
  render(
    <MemoryRouter>
      <QueryClientProvider client={new QueryClient()}>
        <AttemptsPanel run={run} />
      </QueryClientProvider>
    </MemoryRouter>,
  );
  expect(await screen.findByText("Node lost")).toBeInTheDocument();
  fireEvent.click(screen.getAllByRole("button", { name: "1 lines" })[0]);
  expect(await screen.findByLabelText("Log of attempt 1")).toHaveTextContent("first try");
  expect(fetch.mock.calls.some(([u]) => String(u).includes("logs/?attempt=1"))).toBe(true);
});

test("a preempted attempt names the run it made room for and its checkpoint; the resumed one says so", async () => {
  const base = {
    started_at: "2026-01-01T00:00:00Z", ended_at: null, error: "", first_seq: 1, last_seq: 1, log_lines: 1, worker: "w",
  };
  const checkpoint = { dir: "/data/checkpoints/5", files: 2, bytes: 2048, outputs: 1, preempted_for: 9 };
  const attempts = [
    {
      ...base, number: 1, status: "Preempted", cause: "preempted", exit_code: -9, resumed: false, checkpoint,
      cause_evidence: { summary: "preempted for run 9 of higher priority (high over low)", beneficiary: 9, signal: "SIGKILL" },
    },
    { ...base, number: 2, status: "Running", cause: "", cause_evidence: {}, exit_code: null, resumed: true, checkpoint },
  ];
  vi.spyOn(globalThis, "fetch").mockImplementation(() => json(attempts));
  render(
    <MemoryRouter>
      <QueryClientProvider client={new QueryClient()}>
        <AttemptsPanel run={{ id: 5, attempt: 2, status: "Running" } as RunDetail} />
      </QueryClientProvider>
    </MemoryRouter>,
  );
  const preempted = await screen.findByTestId("preempted-1");
  expect(preempted).toHaveTextContent("Preempted for #9 (killed after the grace period) checkpoint /data/checkpoints/5 (2 files, 2.0 KB)");
  expect(screen.getByRole("link", { name: "#9" })).toHaveAttribute("href", "/runs/9");
  expect(screen.getByTestId("resumed-2")).toHaveTextContent("resumed checkpoint /data/checkpoints/5");
});
