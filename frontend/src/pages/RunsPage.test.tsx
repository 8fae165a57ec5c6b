import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { RunsPage } from "./RunsPage";

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

const childRow = {
  id: 8,
  display_name: "fold-1",
  status: "Completed",
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
  ended_at: "2026-01-01T00:00:10Z",
  duration_seconds: 10,
  exit_code: null,
  queue_position: null,
  interactive: true,
  parent: 7,
};

function renderAt(path: string) {
  vi.stubGlobal("WebSocket", QuietSocket);
  const urls: string[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const url = String(input);
    urls.push(url);
    const body = url.includes("/api/runs/") ? { next: null, previous: null, results: [childRow] } : [];
    return Promise.resolve(
      new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } }),
    );
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <RunsPage />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  return urls;
}

const runLists = (urls: string[]) => urls.filter((u) => u.includes("/api/runs/"));

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

test("?parent= lists one run's children, says so, and can be cleared", async () => {
  const urls = renderAt("/runs?parent=7");
  await screen.findByText("fold-1");
  expect(runLists(urls)[0]).toContain("parent=7");
  const chip = screen.getByTestId("parent-filter");
  expect(chip).toHaveTextContent("child runs of #7");
  expect(within(chip).getByRole("link", { name: "#7" })).toHaveAttribute("href", "/runs/7");
  const row = screen.getByText("fold-1").closest("tr")!;
  expect(row).toHaveTextContent("child of #7");
  expect(within(row).getByRole("link", { name: "#7" })).toHaveAttribute("href", "/runs/7");
  await userEvent.click(screen.getByRole("button", { name: /Show all runs/ }));
  await waitFor(() => expect(runLists(urls).at(-1)).not.toContain("parent="));
  expect(screen.queryByTestId("parent-filter")).toBeNull();
});

test("the property filter takes a name or name=value", async () => {
  const urls = renderAt("/runs");
  await screen.findByText("fold-1");
  const box = screen.getByRole("textbox", { name: "Property" });
  await userEvent.type(box, "algo");
  await waitFor(() => expect(runLists(urls).at(-1)).toContain("property=algo"));
  await userEvent.type(box, "=ridge");
  await waitFor(() => expect(runLists(urls).at(-1)).toContain("property=algo%3Dridge"));
});
