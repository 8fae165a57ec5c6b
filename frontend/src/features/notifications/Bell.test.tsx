import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, expect, test, vi } from "vitest";
import { NotificationBell } from "./Bell";

const json = (body: unknown) =>
  Promise.resolve(new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } }));

afterEach(() => vi.restoreAllMocks());

test("the bell counts unread notifications, lists them and marks them read", async () => {
  const note = { id: 1, event: "run.failed", run: 9, title: "run 9 failed (oom)", text: "killed", level: "error", cause: "oom", created_at: "2026-01-01T00:00:00Z", read_at: null };
  const fetch = vi.spyOn(globalThis, "fetch").mockImplementation((_input, init) =>
    init?.method === "POST" ? json({ unread: 0, results: [{ ...note, read_at: "2026-01-01T00:01:00Z" }] }) : json({ unread: 1, results: [note] }),
  );
  render(
    <QueryClientProvider client={new QueryClient()}>
      <MemoryRouter>
        <NotificationBell />
      </MemoryRouter>
    </QueryClientProvider>,
  );
  expect(await screen.findByTestId("unread-count")).toHaveTextContent("1");
  fireEvent.click(screen.getByRole("button", { name: "Notifications: 1 unread" }));
  expect(screen.getByRole("link", { name: "run 9 failed (oom)" })).toHaveAttribute("href", "/runs/9");
  fireEvent.click(screen.getByRole("button", { name: "Mark all read" }));
  expect(await screen.findByRole("button", { name: "Notifications: 0 unread" })).toBeInTheDocument();
  expect(fetch.mock.calls.some(([u, i]) => String(u).endsWith("/api/notifications/read/") && i?.method === "POST")).toBe(true);
});
