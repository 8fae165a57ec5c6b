import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import type { ComputeTarget, QueueBoard } from "../api/types";
import { SessionGate } from "../features/session";
import ComputePage from "./ComputePage";

// uPlot (the queue timeline) asks matchMedia for the pixel ratio when it is imported; jsdom has none.
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

const emptyBoard: QueueBoard = {
  target: "local",
  capacity_runs: 4,
  capacity_nodes: null,
  capacity_gpus: null,
  used_runs: 0,
  used_nodes: 0,
  used_gpus: 0,
  served: true,
  teams: [],
  runs: [],
};

class QuietSocket {
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;
  readyState = 0;
  close() {}
  send() {}
  addEventListener() {}
  removeEventListener() {}
}

const local = (isolation: ComputeTarget["isolation"]): ComputeTarget => ({
  id: 1,
  name: "local",
  kind: "local",
  description: "",
  max_concurrent_runs: 4,
  max_nodes: 1,
  max_processes_per_node: 8,
  config: {},
  failure_policy: {},
  enabled: true,
  queue: "compute.local",
  running_runs: 0,
  queued_runs: 0,
  can_run: ["single"],
  warnings: [],
  isolation,
  created_at: "",
});

function renderWith(target: ComputeTarget, board: QueueBoard = emptyBoard) {
  vi.stubGlobal("WebSocket", QuietSocket);
  const member = { id: 2, username: "bob", is_admin: false, teams: [{ id: 1, name: "Default", slug: "default" }] };
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const url = String(input);
    const body = url.includes("/api/auth/session/")
      ? member
      : url.includes("/timeline/")
        ? { at: [], series: [] }
        : url.includes("/api/schedule/")
          ? board
          : { count: 1, next: null, previous: null, results: [target] };
    return Promise.resolve(
      new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } }),
    );
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <SessionGate>
        <MemoryRouter>
          <ComputePage />
        </MemoryRouter>
      </SessionGate>
    </QueryClientProvider>,
  );
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

test("an unsandboxed local target is flagged loudly", async () => {
  renderWith(local({ sandboxed: false, summary: "UNSANDBOXED (RUNYARD_SANDBOX=off): …" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("local runs are UNSANDBOXED");
});

test("a sandboxed local target says so quietly", async () => {
  renderWith(local({ sandboxed: true, summary: "sandboxed (bubblewrap /usr/bin/bwrap, as uid 65534:65534)" }));
  expect(await screen.findByText(/Scripts run sandboxed/)).toBeInTheDocument();
  expect(screen.queryByRole("alert")).not.toBeInTheDocument();
});

test("the queue board shows capacity per team and why each run waits", async () => {
  renderWith(local({ sandboxed: true, summary: "sandboxed" }), {
    ...emptyBoard,
    used_runs: 4,
    served: false,
    teams: [
      { team: "vision", share: 1, max_runs: 4, running: 4, borrowed: 3, queued: 2, gpus: 0, usage_hours: 12.5 },
    ],
    runs: [
      { id: 7, team: "vision", priority: "high", position: 1, starts_now: false, waiting_reason: "team vision at its limit 4/4" },
    ],
  });
  expect(await screen.findByText(/team vision at its limit 4\/4/)).toBeInTheDocument();
  expect(screen.getByRole("alert")).toHaveTextContent("No worker is serving compute.local");
  const row = screen.getByRole("row", { name: /vision/ });
  expect(row).toHaveTextContent("vision1443212.5"); // share, limit, running, borrowed, queued, usage
});
