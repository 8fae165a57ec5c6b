import type { LogLine } from "../api/types";
import { LogBuffer, splitOnMatches } from "./logBuffer";

const line = (seq: number, rank = 0, text = `line ${seq}`): LogLine => ({
  seq,
  rank,
  stream: rank < 0 ? "system" : "stdout",
  text,
  at: "2026-01-01T00:00:00Z",
});

describe("LogBuffer", () => {
  test("appends in order and reports the last seq", () => {
    const buffer = new LogBuffer();
    expect(buffer.append([line(1), line(2), line(3)])).toBe(3);
    expect(buffer.size).toBe(3);
    expect(buffer.lastSeq).toBe(3);
  });

  test("drops lines it already holds (a reconnect replays a batch)", () => {
    const buffer = new LogBuffer();
    buffer.append([line(1), line(2)]);
    const before = buffer.version;
    expect(buffer.append([line(1), line(2)])).toBe(0);
    expect(buffer.version).toBe(before);
    expect(buffer.append([line(2), line(3)])).toBe(1);
    expect(buffer.size).toBe(3);
  });

  test("puts a late line in seq order and keeps rank views right", () => {
    const buffer = new LogBuffer();
    buffer.append([line(1, 0), line(3, 1), line(4, 0)]);
    buffer.append([line(2, 1)]);
    const all = buffer.view("all");
    expect(Array.from({ length: all.length }, (_, i) => all.get(i).seq)).toEqual([1, 2, 3, 4]);
    const rank1 = buffer.view(1);
    expect(Array.from({ length: rank1.length }, (_, i) => rank1.get(i).seq)).toEqual([2, 3]);
  });

  test("filters by rank, including Runyard's own lines (rank -1)", () => {
    const buffer = new LogBuffer();
    buffer.append([line(1, -1), line(2, 0), line(3, 1), line(4, 0)]);
    expect(buffer.ranks()).toEqual([-1, 0, 1]);
    expect(buffer.view(0).length).toBe(2);
    expect(buffer.view(-1).get(0).seq).toBe(1);
    expect(buffer.view(7).length).toBe(0);
  });

  test("searches within the selected rank, case-insensitively", () => {
    const buffer = new LogBuffer();
    buffer.append([line(1, 0, "Epoch 1 LOSS 0.5"), line(2, 1, "loss 0.4"), line(3, 0, "done")]);
    expect(buffer.search("all", "loss")).toEqual([0, 1]);
    expect(buffer.search(0, "loss")).toEqual([0]);
    expect(buffer.search("all", "")).toEqual([]);
  });

  test("stays fast with 200k lines arriving in websocket-sized batches", () => {
    const buffer = new LogBuffer();
    const started = performance.now();
    for (let base = 0; base < 200_000; base += 2000) {
      buffer.append(Array.from({ length: 2000 }, (_, i) => line(base + i + 1, (base + i) % 4)));
    }
    expect(buffer.size).toBe(200_000);
    expect(buffer.view(3).length).toBe(50_000);
    expect(buffer.view(3).get(49_999).seq).toBe(200_000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

test("splitOnMatches marks every match", () => {
  expect(splitOnMatches("a Loss and loss", "loss")).toEqual([
    { text: "a ", match: false },
    { text: "Loss", match: true },
    { text: " and ", match: false },
    { text: "loss", match: true },
  ]);
  expect(splitOnMatches("abc", "")).toEqual([{ text: "abc", match: false }]);
});
