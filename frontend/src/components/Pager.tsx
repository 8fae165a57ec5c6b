export function Pager({
  hasPrevious,
  hasNext,
  onPrevious,
  onNext,
  summary,
}: {
  hasPrevious: boolean;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  summary?: string;
}) {
  if (!hasPrevious && !hasNext && !summary) return null;
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" className="btn" disabled={!hasPrevious} onClick={onPrevious}>
        ← Newer
      </button>
      {summary && <span className="muted">{summary}</span>}
      <button type="button" className="btn" disabled={!hasNext} onClick={onNext}>
        Older →
      </button>
    </nav>
  );
}
