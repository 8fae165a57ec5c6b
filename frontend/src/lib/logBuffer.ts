import type { LogLine } from "../api/types";

/** Which lines a viewer shows: every rank, or one (-1 is Runyard's own system lines). */
export type RankFilter = "all" | number;

export interface LogView {
  readonly length: number;
  get(index: number): LogLine;
}

/**
 * Holds a run's log in seq order and serves per-rank views without copying.
 *
 * Lines arrive in batches from the websocket (backlog pages, then live batches) and may
 * repeat after a reconnect, so append() drops any seq it already holds. Appends are
 * amortised O(batch); a per-rank index of positions is kept incrementally so switching
 * rank is O(1) even at hundreds of thousands of lines. An out-of-order line (rare: a
 * backfill) is inserted in place and the rank index rebuilt.
 */
export class LogBuffer {
  private lines: LogLine[] = [];
  private seen = new Set<number>();
  private positionsByRank = new Map<number, number[]>();
  /** Bumped on every change so React can notice with a cheap comparison. */
  version = 0;

  get size(): number {
    return this.lines.length;
  }

  get lastSeq(): number {
    return this.lines.length ? this.lines[this.lines.length - 1].seq : 0;
  }

  append(batch: readonly LogLine[]): number {
    let added = 0;
    let outOfOrder = false;
    for (const line of batch) {
      if (this.seen.has(line.seq)) continue;
      this.seen.add(line.seq);
      if (this.lines.length && line.seq < this.lastSeq) {
        this.lines.splice(this.insertionPoint(line.seq), 0, line);
        outOfOrder = true;
      } else {
        this.indexLine(line, this.lines.length);
        this.lines.push(line);
      }
      added += 1;
    }
    if (outOfOrder) this.rebuildRankIndex();
    if (added) this.version += 1;
    return added;
  }

  clear(): void {
    this.lines = [];
    this.seen.clear();
    this.positionsByRank.clear();
    this.version += 1;
  }

  ranks(): number[] {
    return [...this.positionsByRank.keys()].sort((a, b) => a - b);
  }

  view(rank: RankFilter): LogView {
    const lines = this.lines;
    if (rank === "all") return { length: lines.length, get: (i) => lines[i] };
    const positions = this.positionsByRank.get(rank) ?? [];
    return { length: positions.length, get: (i) => lines[positions[i]] };
  }

  /** Indexes (within the view) of lines containing `query`, case-insensitively. */
  search(rank: RankFilter, query: string, limit = 100_000): number[] {
    const needle = query.toLowerCase();
    if (!needle) return [];
    const view = this.view(rank);
    const hits: number[] = [];
    for (let i = 0; i < view.length && hits.length < limit; i += 1) {
      if (view.get(i).text.toLowerCase().includes(needle)) hits.push(i);
    }
    return hits;
  }

  private indexLine(line: LogLine, position: number): void {
    let positions = this.positionsByRank.get(line.rank);
    if (!positions) {
      positions = [];
      this.positionsByRank.set(line.rank, positions);
    }
    positions.push(position);
  }

  private rebuildRankIndex(): void {
    this.positionsByRank.clear();
    this.lines.forEach((line, position) => this.indexLine(line, position));
  }

  private insertionPoint(seq: number): number {
    let lo = 0;
    let hi = this.lines.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lines[mid].seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Splits text around case-insensitive matches, for highlighting. */
export function splitOnMatches(text: string, query: string): { text: string; match: boolean }[] {
  if (!query) return [{ text, match: false }];
  const lower = text.toLowerCase();
  const needle = query.toLowerCase();
  const parts: { text: string; match: boolean }[] = [];
  let from = 0;
  for (let at = lower.indexOf(needle); at !== -1; at = lower.indexOf(needle, from)) {
    if (at > from) parts.push({ text: text.slice(from, at), match: false });
    parts.push({ text: text.slice(at, at + needle.length), match: true });
    from = at + needle.length;
  }
  if (from < text.length) parts.push({ text: text.slice(from), match: false });
  return parts;
}

/** The rows of `view` at `indexes` (ascending), as a view of their own: "show only matches". */
export function onlyRows(view: LogView, indexes: readonly number[]): LogView {
  return { length: indexes.length, get: (i) => view.get(indexes[i]) };
}
