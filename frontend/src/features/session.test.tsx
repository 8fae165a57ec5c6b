import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen } from "@testing-library/react";
import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import { SessionGate, useCurrentUser, useSignOut } from "./session";

function Me() {
  const user = useCurrentUser();
  const signOut = useSignOut();
  useQuery({ queryKey: ["runs", "page"], queryFn: () => ({ secret: "alice's runs" }) });
  return (
    <p>
      Signed in as {user.username}
      <button onClick={() => signOut.mutate()}>Sign out</button>
    </p>
  );
}

function renderGate(client = new QueryClient({ defaultOptions: { queries: { retry: false } } })) {
  return render(
    <QueryClientProvider client={client}>
      <SessionGate>
        <Me />
      </SessionGate>
    </QueryClientProvider>,
  );
}

const json = (status: number, body: unknown) =>
  Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } }));

afterEach(() => vi.restoreAllMocks());

test("signed out: the sign-in form; a wrong password says so; a right one lets you in", async () => {
  const user = { id: 1, username: "alice", is_admin: false, teams: [{ id: 1, name: "Default", slug: "default" }] };
  const fetchMock = vi
    .spyOn(globalThis, "fetch")
    .mockImplementationOnce(() => json(401, { detail: "Not signed in." }))
    .mockImplementationOnce(() => json(400, { detail: "Invalid username or password." }))
    .mockImplementationOnce(() => json(200, user));
  document.cookie = "csrftoken=abc";
  renderGate();
  fireEvent.change(await screen.findByLabelText("Username"), { target: { value: "alice" } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: "nope" } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("don't match");
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByText("Signed in as alice")).toBeInTheDocument();
  const [, init] = fetchMock.mock.calls[2];
  expect((init?.headers as Record<string, string>)["X-CSRFToken"]).toBe("abc");
});

test("a server that answers 200 without a user counts as signed out", async () => {
  vi.spyOn(globalThis, "fetch").mockImplementationOnce(() => json(200, { authenticated: false }));
  renderGate();
  expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
});

test("sign out shows the sign-in form at once and leaves no cached query behind", async () => {
  const user = { id: 1, username: "alice", is_admin: false, teams: [] };
  vi.spyOn(globalThis, "fetch")
    .mockImplementationOnce(() => json(200, user))
    .mockImplementationOnce(() => Promise.resolve(new Response(null, { status: 204 })));
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  renderGate(client);
  fireEvent.click(await screen.findByRole("button", { name: "Sign out" }));
  expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
  expect(screen.queryByText(/Signed in as/)).toBeNull();
  expect(client.getQueryCache().getAll().map((q) => q.queryKey)).toEqual([["session"]]);
});

test("sign out waits for the requests in flight before ending the session", async () => {
  const user = { id: 1, username: "alice", is_admin: false, teams: [] };
  let answerPoll: (response: Response) => void = () => undefined;
  const fetchMock = vi
    .spyOn(globalThis, "fetch")
    .mockImplementationOnce(() => json(200, user))
    .mockImplementationOnce(() => new Promise<Response>((resolve) => (answerPoll = resolve)))
    .mockImplementationOnce(() => Promise.resolve(new Response(null, { status: 204 })));
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  renderGate(client);
  await screen.findByText("Signed in as alice");
  // A page's poll, sent while the user was still signed in, has no answer yet.
  const poll = api("/api/runs/1/");
  fireEvent.click(screen.getByRole("button", { name: "Sign out" }));
  expect(await screen.findByRole("heading", { name: "Sign in" })).toBeInTheDocument();
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(fetchMock.mock.calls.map(([path, init]) => `${init?.method ?? "GET"} ${path}`)).toEqual([
    "GET /api/auth/session/",
    "GET /api/runs/1/",
  ]);
  answerPoll(new Response(JSON.stringify({ id: 1 }), { status: 200 }));
  await poll;
  await vi.waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(3));
  expect(fetchMock.mock.calls[2][1]?.method).toBe("DELETE");
});
