import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, render, screen } from "@testing-library/react";
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
