import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import type { ModelVersion, RegisteredModel } from "../api/types";
import { SessionGate } from "../features/session";
import ModelsPage from "./ModelsPage";

const version = (fields: Partial<ModelVersion>): ModelVersion => ({
  id: 1,
  model: 1,
  name: "mnist-cnn",
  team: "default",
  version: 1,
  description: "",
  tags: {},
  properties: {},
  framework: "",
  framework_version: "",
  run: null,
  run_number: null,
  experiment_name: "",
  source_path: "",
  environment: null,
  environment_id: null,
  datasets: [],
  metrics: {},
  total_size: 1,
  file_count: 1,
  created_by: "alice",
  created_at: "2026-12-01T10:00:00Z",
  ...fields,
});

const models: RegisteredModel[] = [
  {
    id: 1,
    name: "mnist-cnn",
    team: "default",
    description: "",
    latest_version: version({ id: 7, version: 3, framework: "PyTorch", tags: { stage: "prod" }, run: 42 }),
    version_count: 3,
    created_by: "alice",
    created_at: "2026-12-01T09:00:00Z",
  },
  {
    id: 2,
    name: "churn",
    team: "default",
    description: "",
    latest_version: version({ id: 9, model: 2, name: "churn", created_by: "bob" }),
    version_count: 1,
    created_by: "bob",
    created_at: "2026-12-01T09:00:00Z",
  },
];

function renderPage() {
  const member = { id: 2, username: "alice", is_admin: false, teams: [{ id: 1, name: "Default", slug: "default" }] };
  vi.spyOn(globalThis, "fetch").mockImplementation((input) => {
    const body = String(input).includes("/api/auth/session/")
      ? member
      : { count: 2, next: null, previous: null, results: models };
    return Promise.resolve(new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } }));
  });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <SessionGate>
        <MemoryRouter>
          <ModelsPage />
        </MemoryRouter>
      </SessionGate>
    </QueryClientProvider>,
  );
}

afterEach(() => vi.restoreAllMocks());

test("models are listed with their latest version, tags, run and who registered them", async () => {
  renderPage();
  const link = await screen.findByRole("link", { name: "mnist-cnn" });
  expect(link).toHaveAttribute("href", "/models/versions/7");
  const row = link.closest("tr") as HTMLElement;
  expect(within(row).getByText("v3")).toBeInTheDocument();
  expect(within(row).getByText("stage=prod")).toBeInTheDocument();
  expect(within(row).getByRole("link", { name: "run #42" })).toHaveAttribute("href", "/runs/42");
  expect(within(row).getByText("3 versions · team default")).toBeInTheDocument();
  const other = screen.getByRole("link", { name: "churn" }).closest("tr") as HTMLElement;
  expect(within(other).getByText("uploaded files")).toBeInTheDocument();
  expect(within(other).getByText("by bob")).toBeInTheDocument();
});

test("the filter matches names and tags", async () => {
  renderPage();
  await screen.findByRole("link", { name: "mnist-cnn" });
  await userEvent.type(screen.getByRole("searchbox", { name: "Filter models" }), "stage=prod");
  expect(screen.getByRole("link", { name: "mnist-cnn" })).toBeInTheDocument();
  expect(screen.queryByRole("link", { name: "churn" })).not.toBeInTheDocument();
});
