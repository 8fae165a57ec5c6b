import { act, fireEvent, render, screen } from "@testing-library/react";
import type { LogLine } from "../../api/types";
import { LogBuffer } from "../../lib/logBuffer";
import { LogViewer } from "./LogViewer";

function lines(from: number, count: number, ranks = 2): LogLine[] {
  return Array.from({ length: count }, (_, i) => ({
    seq: from + i,
    rank: (from + i) % ranks,
    stream: "stdout",
    text: (from + i) % 1000 === 0 ? `checkpoint ${from + i}` : `step ${from + i}`,
    at: "2026-01-01T00:00:00Z",
  }));
}

function renderViewer(buffer: LogBuffer) {
  const view = (version: number) => (
    <LogViewer buffer={buffer} version={version} knownRanks={[0, 1]} downloadUrl="/api/runs/1/logs/download/" live />
  );
  const result = render(view(buffer.version));
  return { rerender: () => result.rerender(view(buffer.version)) };
}

test("renders only the rows on screen for 100k lines", () => {
  const buffer = new LogBuffer();
  buffer.append(lines(1, 100_000));
  renderViewer(buffer);
  expect(screen.getByTestId("log-count")).toHaveTextContent("100,000 lines");
  const rows = document.querySelectorAll(".log-line");
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.length).toBeLessThan(200);
});

test("the rank selector narrows the view to one rank", () => {
  const buffer = new LogBuffer();
  buffer.append(lines(1, 1000));
  renderViewer(buffer);
  fireEvent.change(screen.getByRole("combobox", { name: /rank/i }), { target: { value: "1" } });
  expect(screen.getByTestId("log-count")).toHaveTextContent("500 lines");
});

test("search counts matches across the whole log", async () => {
  vi.useFakeTimers();
  const buffer = new LogBuffer();
  buffer.append(lines(1, 10_000));
  renderViewer(buffer);
  fireEvent.change(screen.getByRole("searchbox", { name: "Search the log" }), { target: { value: "checkpoint" } });
  act(() => vi.advanceTimersByTime(250));
  expect(screen.getByTestId("log-matches")).toHaveTextContent("1 of 10");
  vi.useRealTimers();
});

test("scrolling up pauses follow and counts lines that arrive meanwhile", () => {
  const buffer = new LogBuffer();
  buffer.append(lines(1, 1000));
  const { rerender } = renderViewer(buffer);
  const follow = screen.getByRole("checkbox", { name: "Follow" });
  expect(follow).toBeChecked();
  const scroller = screen.getByTestId("log-scroll");
  Object.defineProperty(scroller, "scrollHeight", { configurable: true, value: 20_000 });
  Object.defineProperty(scroller, "clientHeight", { configurable: true, value: 400 });
  scroller.scrollTop = 1000;
  fireEvent.scroll(scroller);
  expect(follow).not.toBeChecked();
  act(() => {
    buffer.append(lines(1001, 25));
  });
  rerender();
  expect(screen.getByRole("button", { name: /25 new lines/ })).toBeInTheDocument();
  fireEvent.click(screen.getByRole("button", { name: /25 new lines/ }));
  expect(follow).toBeChecked();
});
