import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import type { ComputeTarget } from "../api/types";
import { SessionGate } from "../features/session";
import ComputePage from "./ComputePage";

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
  enabled: true,
  queue: "compute.local",
  running_runs: 0,
  queued_runs: 0,
  can_run: ["single"],
  warnings: [],
  isolation,
  created_at: "",
});

function renderWith(target: ComputeTarget) {
  vi.stubGlobal("WebSocket", QuietSocket);
  const member = { id: 2, username: "bob", is_admin: false, teams: [{ id: 1, name: "Default", slug: "default" }] };
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const body = String(input).includes("/api/auth/session/")
      ? member
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
