import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import type { Dataset, DatasetVersion } from "../api/types";
import { SessionGate } from "../features/session";
import DatasetsPage from "./DatasetsPage";

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

const version: DatasetVersion = {
  id: 7,
  dataset: 3,
  dataset_name: "titanic",
  version: 1,
  description: "",
  tags: {},
  datastore: null,
  source_path: "",
  total_size: 0,
  file_count: 2,
  single_file: false,
  created_by: "bob",
  created_at: "2026-12-01T10:00:00Z",
};
const dataset: Dataset = {
  id: 3,
  name: "titanic",
  team: "default",
  description: "",
  latest_version: version,
  version_count: 1,
  created_by: "bob",
  created_at: "2026-12-01T10:00:00Z",
};
const files = [
  { path: "Titanic.csv", size: 0, sha256: "", url: "https://data.example.org/demo/Titanic.csv" },
  { path: "stored.csv", size: 2048, sha256: "abcdef0123456789", url: "" },
];

function answer(url: string): unknown {
  if (url.includes("/api/auth/session/")) {
    return { id: 2, username: "bob", is_admin: false, teams: [{ id: 1, name: "Default", slug: "default" }] };
  }
  if (url.includes("/api/dataset-versions/7/")) return { ...version, files };
  if (url.includes("/api/dataset-versions/")) return { count: 1, next: null, previous: null, results: [version] };
  if (url.includes("/api/datasets/")) return { count: 1, next: null, previous: null, results: [dataset] };
  return { count: 0, next: null, previous: null, results: [] };
}

test("a web file shows its URL instead of a size and checksum", async () => {
  vi.stubGlobal("WebSocket", QuietSocket);
  vi.spyOn(globalThis, "fetch").mockImplementation((input) =>
    Promise.resolve(
      new Response(JSON.stringify(answer(String(input))), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      }),
    ),
  );
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <SessionGate>
        <MemoryRouter initialEntries={["/datasets/3"]}>
          <Routes>
            <Route path="/datasets/:id" element={<DatasetsPage />} />
          </Routes>
        </MemoryRouter>
      </SessionGate>
    </QueryClientProvider>,
  );
  const link = await screen.findByRole("link", { name: "https://data.example.org/demo/Titanic.csv" });
  expect(link.getAttribute("href")).toBe("https://data.example.org/demo/Titanic.csv");
  expect(link.getAttribute("rel")).toContain("noopener");
  expect(screen.getByText("fetched by each run")).toBeTruthy();
  expect(screen.getByText("web file")).toBeTruthy();
  expect(screen.getByText("abcdef012345")).toBeTruthy(); // a stored file keeps its checksum
});
