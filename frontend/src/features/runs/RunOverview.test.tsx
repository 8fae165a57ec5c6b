import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import type { RunDetail, RunSummary } from "../../api/types";
import { RunOverview } from "./RunOverview";

const json = (body: unknown) =>
  Promise.resolve(new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } }));

const base = {
  display_name: "",
  status: "Running",
  status_reason: "",
  experiment: "nb",
  script: "",
  command: [],
  compute_target: "",
  environment: "",
  distributed: null,
  tags: { stage: "tune" },
  submitted_by: "alice",
  created_at: "2026-01-01T00:00:00Z",
  queued_at: null,
  running_at: "2026-01-01T00:00:00Z",
  ended_at: null,
  duration_seconds: 1,
  exit_code: null,
  queue_position: null,
  interactive: true,
} as const;

const run = {
  ...base,
  id: 7,
  parent: 3,
  arguments: [],
  environment_version: null,
  max_run_duration_seconds: null,
  preparing_at: null,
  starting_at: null,
  finalizing_at: null,
  error: "",
  heartbeat_at: null,
  worker: "",
  snapshot_sha256: "",
  snapshot_size: 0,
  snapshot_files: 0,
  resubmitted_from: null,
  build: null,
  log_seq: 0,
  portal_url: "",
  properties: { algorithm: "ridge" },
} as unknown as RunDetail;

const child = { ...base, id: 8, parent: 7, display_name: "fold-1", status: "Completed" } as unknown as RunSummary;

afterEach(() => vi.restoreAllMocks());

test("an interactive child run: parent link, properties beside tags, its own children listed", async () => {
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const url = String(input);
    if (url.includes("parent=7")) return json({ next: null, previous: null, results: [child] });
    return json([]);
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <RunOverview run={run} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  expect(screen.getByTestId("parent-run")).toHaveAttribute("href", "/runs/3");
  expect(screen.getByTestId("run-properties")).toHaveTextContent("algorithm=ridge");
  expect(screen.getByText(/an interactive run/)).toBeInTheDocument();
  expect(screen.queryByTestId("snapshot-download")).toBeNull(); // no snapshot to download
  const row = await screen.findByTestId("child-run");
  expect(within(row).getByRole("link", { name: "#8" })).toHaveAttribute("href", "/runs/8");
  expect(row).toHaveTextContent("fold-1");
  expect(row).toHaveTextContent("Completed");
});

test("a submitted run's snapshot downloads as a zip", async () => {
  vi.spyOn(globalThis, "fetch").mockImplementation(() => json([]));
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const submitted = {
    ...run,
    parent: null,
    interactive: false,
    snapshot_sha256: "ab".repeat(32),
    snapshot_files: 2,
    snapshot_size: 2048,
  } as RunDetail;
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <RunOverview run={submitted} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  expect(screen.getByTestId("snapshot-download")).toHaveAttribute("href", "/api/runs/7/snapshot/");
  expect(screen.getByTestId("snapshot-download").closest("dd")).toHaveTextContent("2 files, 2.0 KB");
  expect(screen.queryByTestId("parent-run")).toBeNull();
});
