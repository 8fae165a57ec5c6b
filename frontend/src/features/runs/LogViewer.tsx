import "./rich.css";
import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import type { LogLine } from "../../api/types";
import { onlyRows, splitOnMatches, type LogBuffer, type RankFilter } from "../../lib/logBuffer";
import { useDebounced } from "../../lib/useDebounced";

const ROW_HEIGHT = 20;

export interface LogViewerProps {
  buffer: LogBuffer;
  /** Changes whenever the buffer does; the buffer itself is mutated in place. */
  version: number;
  /** Ranks known from the run's processes; ranks seen in the log are added to these. */
  knownRanks: number[];
  downloadUrl: string;
  live: boolean;
  /** Open at this line (a link from the error excerpt): scroll there and mark it. */
  focusSeq?: number | null;
}

const lineTime = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  fractionalSecondDigits: 3,
  hour12: false,
});

function rankLabel(rank: number): string {
  return rank < 0 ? "Runyard (system)" : `Rank ${rank}`;
}

/**
 * A virtualised log: only the rows on screen are in the DOM, so 100k+ lines scroll as
 * smoothly as 100. It follows the tail until the reader scrolls up, then holds still
 * and offers a jump back to the newest line.
 */
export function LogViewer({ buffer, version, knownRanks, downloadUrl, live, focusSeq = null }: LogViewerProps) {
  const [rank, setRank] = useState<RankFilter>("all");
  const [following, setFollowing] = useState(true);
  const [pausedAtLength, setPausedAtLength] = useState(0);
  const [query, setQuery] = useState("");
  const [matchCursor, setMatchCursor] = useState(0);
  const [wrap, setWrap] = useState(false);
  const [times, setTimes] = useState(false);
  const [onlyMatches, setOnlyMatches] = useState(false);
  const [focused, setFocused] = useState<number | null>(null);
  const debouncedQuery = useDebounced(query, 200);
  const scroller = useRef<HTMLDivElement>(null);

  // `version` is the buffer's change counter: these recompute when lines arrive.
  const fullView = useMemo(() => buffer.view(rank), [buffer, rank, version]);
  const ranks = useMemo(
    () => [...new Set([...knownRanks, ...buffer.ranks()])].sort((a, b) => a - b),
    [buffer, knownRanks, version],
  );
  const fullMatches = useMemo(
    () => (debouncedQuery ? buffer.search(rank, debouncedQuery) : []),
    [buffer, rank, debouncedQuery, version],
  );
  // "Show only matches": the view is the matching lines, each of them a match.
  const filtering = onlyMatches && !!debouncedQuery;
  const view = useMemo(() => (filtering ? onlyRows(fullView, fullMatches) : fullView), [filtering, fullView, fullMatches]);
  const matches = useMemo(() => (filtering ? fullMatches.map((_, i) => i) : fullMatches), [filtering, fullMatches]);

  const virtualizer = useVirtualizer({
    count: view.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 30,
  });

  // Wrapped lines have their own heights: measure the rendered rows again.
  useEffect(() => {
    virtualizer.measure();
  }, [wrap, times, virtualizer]);

  // Jump once to the linked line as soon as it has arrived (the log streams in).
  const focusDone = useRef(false);
  useEffect(() => {
    if (focusSeq == null || focusDone.current) return;
    for (let i = view.length - 1; i >= 0; i -= 1) {
      if (view.get(i).seq === focusSeq) {
        focusDone.current = true;
        setFollowing(false);
        setPausedAtLength(view.length);
        setFocused(focusSeq);
        // After the pause has rendered, or following would scroll back to the tail.
        requestAnimationFrame(() => virtualizer.scrollToIndex(i, { align: "center" }));
        return;
      }
    }
  }, [focusSeq, view, virtualizer]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (following && el) el.scrollTop = el.scrollHeight;
  }, [following, view.length]);

  const pause = () => {
    setFollowing(false);
    setPausedAtLength(view.length);
  };

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_HEIGHT * 1.5;
    if (atBottom && !following) setFollowing(true);
    else if (!atBottom && following) pause();
  };

  const jumpToMatch = (index: number) => {
    if (!matches.length) return;
    const wrapped = (index + matches.length) % matches.length;
    setMatchCursor(wrapped);
    pause();
    virtualizer.scrollToIndex(matches[wrapped], { align: "center" });
  };

  const onSearchKey = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === "Enter") {
      event.preventDefault();
      jumpToMatch(matchCursor + (event.shiftKey ? -1 : 1));
    } else if (event.key === "Escape") {
      setQuery("");
    }
  };

  const onLogKey = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === "End") setFollowing(true);
  };

  const current = matches.length ? Math.min(matchCursor, matches.length - 1) : -1;
  const activeRow = current >= 0 ? matches[current] : -1;
  const newLines = following ? 0 : Math.max(0, view.length - pausedAtLength);

  return (
    <div className="log-viewer">
      <div className="log-toolbar">
        <label className="inline-label">
          <span>Rank</span>
          <select
            value={String(rank)}
            onChange={(e) => setRank(e.target.value === "all" ? "all" : Number(e.target.value))}
          >
            <option value="all">All ranks</option>
            {ranks.map((r) => (
              <option key={r} value={r}>
                {rankLabel(r)}
              </option>
            ))}
          </select>
        </label>
        <div className="log-search">
          <input
            type="search"
            placeholder="Search the log"
            aria-label="Search the log"
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setMatchCursor(0);
            }}
            onKeyDown={onSearchKey}
          />
          {debouncedQuery && (
            <span className="muted small" aria-live="polite" data-testid="log-matches">
              {matches.length ? `${current + 1} of ${matches.length.toLocaleString()}` : "No matches"}
            </span>
          )}
          <button
            type="button"
            className="btn btn-small"
            onClick={() => jumpToMatch(matchCursor - 1)}
            disabled={!matches.length}
            aria-label="Previous match"
          >
            ↑
          </button>
          <button
            type="button"
            className="btn btn-small"
            onClick={() => jumpToMatch(matchCursor + 1)}
            disabled={!matches.length}
            aria-label="Next match"
          >
            ↓
          </button>
        </div>
        <span className="spacer" />
        <span className="muted small" data-testid="log-count">
          {view.length.toLocaleString()} lines
        </span>
        <label className="check">
          <input
            type="checkbox"
            checked={onlyMatches}
            onChange={(e) => setOnlyMatches(e.target.checked)}
            disabled={!debouncedQuery}
          />
          Only matches
        </label>
        <label className="check">
          <input type="checkbox" checked={wrap} onChange={(e) => setWrap(e.target.checked)} />
          Wrap
        </label>
        <label className="check">
          <input type="checkbox" checked={times} onChange={(e) => setTimes(e.target.checked)} />
          Timestamps
        </label>
        <label className="check">
          <input type="checkbox" checked={following} onChange={(e) => (e.target.checked ? setFollowing(true) : pause())} />
          Follow
        </label>
        <a className="btn btn-small" href={downloadUrl} download>
          Download full log
        </a>
      </div>
      <div className={`log-frame${wrap ? " log-wrap" : ""}`}>
        <div
          ref={scroller}
          className="log-scroll"
          onScroll={onScroll}
          onKeyDown={onLogKey}
          tabIndex={0}
          role="log"
          aria-label="Run log"
          aria-live="off"
          data-testid="log-scroll"
        >
          {view.length === 0 ? (
            <div className="log-empty">{live ? "Waiting for the first line…" : "This log is empty."}</div>
          ) : (
            <div className="log-inner" style={{ height: virtualizer.getTotalSize() }}>
              {virtualizer.getVirtualItems().map((item) => (
                <LogRow
                  key={item.key}
                  index={item.index}
                  measure={wrap ? virtualizer.measureElement : undefined}
                  line={view.get(item.index)}
                  top={item.start}
                  showRank={rank === "all"}
                  showTime={times}
                  query={debouncedQuery}
                  active={item.index === activeRow || view.get(item.index).seq === focused}
                />
              ))}
            </div>
          )}
        </div>
        {newLines > 0 && (
          <button type="button" className="btn btn-primary log-jump" onClick={() => setFollowing(true)}>
            ↓ {newLines.toLocaleString()} new line{newLines === 1 ? "" : "s"} · follow
          </button>
        )}
      </div>
    </div>
  );
}

const LogRow = memo(function LogRow({
  index,
  measure,
  line,
  top,
  showRank,
  showTime,
  query,
  active,
}: {
  index: number;
  measure?: (el: Element | null) => void;
  line: LogLine;
  top: number;
  showRank: boolean;
  showTime: boolean;
  query: string;
  active: boolean;
}) {
  return (
    <div
      ref={measure}
      data-index={index}
      className={`log-line log-${line.stream}${active ? " log-line-active" : ""}`}
      style={{ transform: `translateY(${top}px)` }}
      data-seq={line.seq}
    >
      <span className="log-seq" aria-hidden="true">
        {line.seq}
      </span>
      {showTime && (
        <span className="log-time" title={line.at}>
          {lineTime.format(new Date(line.at))}
        </span>
      )}
      {showRank && (
        <span className={`log-rank log-rank-${line.rank < 0 ? "sys" : line.rank % 6}`}>
          {line.rank < 0 ? "sys" : line.rank}
        </span>
      )}
      <span className="log-text">
        {query
          ? splitOnMatches(line.text, query).map((part, i) => (part.match ? <mark key={i}>{part.text}</mark> : part.text))
          : line.text}
      </span>
    </div>
  );
});
