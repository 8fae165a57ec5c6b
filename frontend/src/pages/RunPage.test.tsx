import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import type { RunDetail } from "../api/types";
import RunPage from "./RunPage";

// uPlot (the metrics charts) asks matchMedia for the pixel ratio when it is imported; jsdom has none.
vi.hoisted(() => {
  window.matchMedia ??= ((query: string) => ({
    matches: false,
    media: query,
    addEventListener() {},
    removeEventListener() {},
    addListener() {},
    removeListener() {},
  })) as unknown as typeof window.matchMedia;
});

class FakeSocket {
  static last: FakeSocket | null = null;
  static CONNECTING = 0;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  readyState = 1;
  constructor() {
    FakeSocket.last = this;
  }
  close() {}
  send() {}
}

const json = (body: unknown) =>
  Promise.resolve(new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } }));

const preparing = {
  id: 7,
  display_name: "",
  status: "Preparing",
  status_reason: "claimed by w",
  experiment: "e",
  script: "train.py",
  command: [],
  compute_target: "local",
  environment: "mine:1",
  distributed: null,
  tags: {},
  submitted_by: "alice",
  created_at: "2026-12-01T10:00:00Z",
  queued_at: "2026-12-01T10:00:00Z",
  running_at: null,
  ended_at: null,
  duration_seconds: null,
  exit_code: null,
  queue_position: null,
  interactive: false,
  parent: null,
  arguments: [],
  environment_version: null,
  max_run_duration_seconds: null,
  preparing_at: "2026-12-01T10:00:01Z",
  starting_at: null,
  finalizing_at: null,
  error: "",
  heartbeat_at: null,
  worker: "w",
  snapshot_sha256: "",
  snapshot_size: 0,
  snapshot_files: 1,
  resubmitted_from: null,
  build: null,
  log_seq: 0,
  portal_url: "",
  properties: {},
} as unknown as RunDetail;

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

test("a Preparing run has its Environment build tab, which shows the build once the worker links it", async () => {
  vi.stubGlobal("WebSocket", FakeSocket);
  let linked = false;
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const url = String(input);
    if (url === "/api/runs/7/") return json({ ...preparing, build: linked ? 11 : null });
    if (url.startsWith("/api/environment-builds/11/log/"))
      return json({ build: 11, status: "building", lines: [{ seq: 1, text: "Installing: numpy", at: "" }] });
    if (url.startsWith("/api/environment-builds/11/"))
      return json({ id: 11, content_hash: "abc123def456", kind: "venv", status: "building", error: "", log_seq: 1 });
    if (url.includes("/metrics/")) return json({});
    return json([]);
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={["/runs/7?tab=build"]}>
        <RunPage runId={7} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  expect(await screen.findByRole("tab", { name: "Environment build" })).toBeInTheDocument();
  expect(screen.getByText("Waiting for the environment build…")).toBeInTheDocument();

  linked = true;
  act(() => {
    FakeSocket.last?.onmessage?.({ data: JSON.stringify({ type: "status", run: { ...preparing, build: 11 } }) });
  });
  expect(await screen.findByText("building")).toBeInTheDocument();
  expect(await screen.findByText(/Installing: numpy/)).toBeInTheDocument();
});

test("a Queued run says why it waits and its priority can be changed", async () => {
  vi.stubGlobal("WebSocket", FakeSocket);
  const queued = {
    ...preparing,
    status: "Queued",
    worker: "",
    preparing_at: null,
    queue_position: 3,
    priority: "normal",
    waiting_reason: "2 runs of higher priority ahead; the target is full (2/2 runs)",
  };
  const posted: unknown[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
    const url = String(input);
    if (url === "/api/runs/7/priority/") {
      posted.push(JSON.parse(String(init?.body)));
      return json({ ...queued, priority: "high", waiting_reason: "the target is full (2/2 runs)", queue_position: 1 });
    }
    if (url === "/api/runs/7/") return json(queued);
    if (url.startsWith("/api/runs/?")) return json({ next: null, previous: null, results: [] });
    if (url.includes("/metrics/")) return json({});
    return json([]);
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={["/runs/7"]}>
        <RunPage runId={7} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  const why = await screen.findByLabelText("Why the run waits");
  expect(why).toHaveTextContent("Position 3 in the queue of local: 2 runs of higher priority ahead; the target is full (2/2 runs).");
  await act(async () => {
    fireEvent.change(screen.getByLabelText(/Priority/), { target: { value: "high" } });
  });
  expect(posted).toEqual([{ priority: "high" }]);
  expect(await screen.findByText(/Position 1 in the queue/)).toBeInTheDocument();
});
