import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import type { UsageRow } from "../api/types";
import UsagePage from "./UsagePage";

function renderWith(rows: UsageRow[]) {
  vi.spyOn(globalThis, "fetch").mockImplementation(() =>
    Promise.resolve(new Response(JSON.stringify(rows), { status: 200, headers: { "Content-Type": "application/json" } })),
  );
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <UsagePage />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

afterEach(() => vi.restoreAllMocks());

const row = (over: Partial<UsageRow>): UsageRow => ({
  key: "vision",
  team: "vision",
  runs: 3,
  run_hours: 2,
  gpu_hours: 4,
  queue_wait_hours: 0.5,
  cpu_percent: null,
  gpu_utilization: null,
  ...over,
});

test("efficiency from system metrics is charted where sampled and a dash where not", async () => {
  renderWith([row({ cpu_percent: 80, gpu_utilization: 60 }), row({ key: "nlp", team: "nlp", run_hours: 1 })]);
  const table = await screen.findByRole("table", { name: "Usage" });
  const vision = within(table).getByRole("row", { name: /vision/ });
  expect(vision).toHaveTextContent("80.00");
  expect(vision).toHaveTextContent("60.00");
  const nlp = within(table).getByRole("row", { name: /nlp/ });
  expect(nlp.textContent).toContain("—");
  const gpu = screen.getByRole("article", { name: "GPU utilization (%) by team" });
  expect(within(gpu).getAllByRole("listitem")).toHaveLength(1); // only the sampled group
  expect(screen.getByRole("link", { name: "Export CSV" })).toHaveAttribute(
    "href",
    expect.stringContaining("/api/usage/csv/?group_by=team"),
  );
});

test("no efficiency chart when nothing was sampled", async () => {
  renderWith([row({})]);
  await screen.findByRole("table", { name: "Usage" });
  expect(screen.getByRole("article", { name: "Run-hours by team" })).toBeInTheDocument();
  expect(screen.queryByRole("article", { name: /CPU per rank/ })).not.toBeInTheDocument();
});
