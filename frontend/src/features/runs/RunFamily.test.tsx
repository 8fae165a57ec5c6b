import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import type { RunSummary } from "../../api/types";
import { ChildRuns, RunCrumbs } from "./RunFamily";

const child = (id: number, fields: Partial<RunSummary>): RunSummary =>
  ({
    id,
    display_name: "",
    status: "Running",
    status_reason: "",
    experiment: "nb",
    script: "",
    command: [],
    compute_target: "",
    environment: "",
    distributed: null,
    tags: {},
    submitted_by: "alice",
    created_at: "2026-01-01T00:00:00Z",
    queued_at: null,
    running_at: "2026-01-01T00:00:00Z",
    ended_at: null,
    duration_seconds: null,
    exit_code: null,
    queue_position: null,
    interactive: true,
    parent: 7,
    ...fields,
  }) as RunSummary;

function renderChildren(page: { next: string | null; results: RunSummary[] }) {
  const urls: string[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    urls.push(String(input));
    return Promise.resolve(
      new Response(JSON.stringify({ previous: null, ...page }), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      }),
    );
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  const view = render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <ChildRuns id={7} />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return { urls, view };
}

afterEach(() => vi.restoreAllMocks());

test("a child's crumbs lead back to its parent; a top-level run's do not", () => {
  const { rerender } = render(
    <MemoryRouter>
      <RunCrumbs run={{ id: 8, parent: 7 }} />
    </MemoryRouter>,
  );
  expect(screen.getByTestId("parent-crumb")).toHaveAttribute("href", "/runs/7");
  expect(screen.getByRole("navigation", { name: "Breadcrumb" })).toHaveTextContent("Runs / #7 / #8");
  rerender(
    <MemoryRouter>
      <RunCrumbs run={{ id: 7, parent: null }} />
    </MemoryRouter>,
  );
  expect(screen.queryByTestId("parent-crumb")).toBeNull();
  expect(screen.getByRole("navigation", { name: "Breadcrumb" })).toHaveTextContent("Runs / #7");
});

test("children are listed oldest first with status, tags, start and duration, each a link", async () => {
  const { urls } = renderChildren({
    next: null,
    results: [
      child(8, {
        display_name: "fold-1",
        status: "Completed",
        ended_at: "2026-01-01T00:01:30Z",
        tags: { fold: "1" },
      }),
      child(9, { display_name: "fold-2", status: "Failed", ended_at: "2026-01-01T00:00:05Z" }),
    ],
  });
  const rows = await screen.findAllByTestId("child-run");
  expect(urls[0]).toContain("parent=7");
  expect(urls[0]).toContain("ordering=created_at");
  expect(screen.getByRole("heading", { name: /Child runs/ })).toHaveTextContent("Child runs (2)");
  expect(within(rows[0]).getByRole("link", { name: "#8" })).toHaveAttribute("href", "/runs/8");
  expect(rows[0]).toHaveTextContent("fold-1");
  expect(rows[0]).toHaveTextContent("fold=1");
  expect(rows[0]).toHaveTextContent("Completed");
  expect(rows[0]).toHaveTextContent("1m 30s");
  expect(within(rows[1]).getByRole("link", { name: "#9" })).toHaveAttribute("href", "/runs/9");
  expect(rows[1]).toHaveTextContent("Failed");
  expect(screen.queryByText(/Showing the first/)).toBeNull();
});

test("a long family links to the run list filtered to its children", async () => {
  renderChildren({ next: "/api/runs/?cursor=abc", results: [child(8, {})] });
  await screen.findByTestId("child-run");
  expect(screen.getByRole("heading", { name: /Child runs/ })).toHaveTextContent("Child runs (1+)");
  expect(screen.getByRole("link", { name: "all of them" })).toHaveAttribute("href", "/runs?parent=7");
});

test("a run without children shows no card", async () => {
  const { urls, view } = renderChildren({ next: null, results: [] });
  await vi.waitFor(() => expect(urls).toHaveLength(1));
  expect(view.container).toBeEmptyDOMElement();
});
