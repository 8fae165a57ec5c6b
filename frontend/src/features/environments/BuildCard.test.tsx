import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen, within } from "@testing-library/react";
import type { EnvironmentBuild, EnvironmentVersion } from "../../api/types";
import { BuildCard } from "./BuildCard";

const version = {
  id: 7,
  environment: 3,
  environment_name: "mine",
  version: 1,
  spec: {},
  content_hash: "abc123def4567890",
  description: "",
  created_by: "alice",
  created_at: "2026-12-01T10:00:00Z",
} as unknown as EnvironmentVersion;

function row(status: EnvironmentBuild["status"], extra: Partial<EnvironmentBuild> = {}): EnvironmentBuild {
  return {
    id: 11,
    content_hash: version.content_hash,
    kind: "venv",
    location: "/envs",
    status,
    path: "",
    error: "",
    log_seq: 0,
    created_at: "2026-12-01T10:00:00Z",
    started_at: status === "pending" ? null : "2026-12-01T10:00:01Z",
    finished_at: null,
    last_used_at: null,
    duration_seconds: null,
    ...extra,
  };
}

const json = (body: unknown, status = 200) =>
  Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));

/** A server whose build moves on by one step each time the build is read. */
function fakeServer(answerPost: () => Promise<Response>, targets: string[] = []) {
  const steps = [row("building"), row("building"), row("succeeded", { duration_seconds: 2.5 })];
  let built = false;
  let reads = 0;
  const posts: unknown[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
    const url = String(input);
    if (url.startsWith("/api/compute-targets/")) {
      const results = targets.map((name, i) => ({ id: i + 1, name, enabled: true }));
      return json({ count: results.length, next: null, previous: null, results });
    }
    if (url.startsWith("/api/environment-versions/7/build/")) {
      posts.push(JSON.parse(String(init?.body)));
      return answerPost().then((response) => {
        built = response.ok;
        return response;
      });
    }
    if (url.startsWith("/api/environment-builds/?"))
      return json({ count: built ? 1 : 0, next: null, previous: null, results: built ? [steps[Math.min(reads, 2)]] : [] });
    if (url.startsWith("/api/environment-builds/11/log/")) {
      const lines = reads >= 2 ? ["Resolving…", "Environment ready"] : ["Resolving…"];
      return json({ build: 11, status: "building", lines: lines.map((text, i) => ({ seq: i + 1, text, at: "" })) });
    }
    if (url.startsWith("/api/environment-builds/11/")) return json(steps[Math.min(reads++, 2)]);
    return json({ detail: `unexpected ${url}` }, 500);
  });
  return posts;
}

function renderCard() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <BuildCard version={version} />
    </QueryClientProvider>,
  );
}

afterEach(() => vi.restoreAllMocks());

test("Build now queues a build and the card follows it to succeeded without a reload", async () => {
  const posts = fakeServer(() => json(row("pending"), 202));
  renderCard();
  expect(await screen.findByText("Not built yet")).toBeInTheDocument();
  fireEvent.click(screen.getByRole("button", { name: "Build now" }));
  const card = screen.getByRole("region", { name: "Build" });
  expect(await within(card).findByText("building")).toBeInTheDocument();
  expect(screen.getByRole("button", { name: "Build now" })).toBeDisabled();
  expect(await within(card).findByText("succeeded")).toBeInTheDocument();
  expect(await within(card).findByText(/Environment ready/)).toBeInTheDocument();
  expect(screen.getByRole("button", { name: "Build now" })).toBeEnabled();
  expect(posts).toEqual([{ compute_target: "local" }]);
});

test("a refused build says why", async () => {
  fakeServer(() => json({ compute_target: ["No compute target named 'local'."] }, 400));
  renderCard();
  fireEvent.click(await screen.findByRole("button", { name: "Build now" }));
  expect(await screen.findByText(/No compute target named 'local'|Some fields need attention/)).toBeInTheDocument();
  expect(screen.getByText("Not built yet")).toBeInTheDocument();
});

test("with several compute targets, Build now builds on the one picked", async () => {
  const posts = fakeServer(() => json(row("pending"), 202), ["local", "docker"]);
  renderCard();
  fireEvent.change(await screen.findByRole("combobox", { name: "Build on" }), { target: { value: "docker" } });
  fireEvent.click(screen.getByRole("button", { name: "Build now" }));
  expect(await screen.findByText("building")).toBeInTheDocument();
  expect(posts).toEqual([{ compute_target: "docker" }]);
});
