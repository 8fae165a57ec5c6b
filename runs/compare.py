"""What the compare view reads: several runs side by side, their scalar series in columns
(downsampled to what a chart can show), and their code snapshots file by file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from common import archives
from common.archives import UnsafeArchive
from runs import metricstore, snapshots, summaries
from runs.models import MetricSketch, MetricSummary, Run

MAX_RUNS = 20
MAX_POINTS = 20_000
DEFAULT_POINTS = 1_000  # per line: a chart card is ~500 px wide, each bucket gives its min and max
TEXT_LIMIT = 256 * 1024  # a changed file larger than this is listed, not shown
MAX_TEXT_FILES = 50


def describe(run: Run) -> dict[str, Any]:
    """One run's column of the comparison: what it ran, with what, and how it ended."""
    version = run.environment_version
    return {
        "id": run.pk,
        "display_name": run.display_name,
        "status": run.status,
        "experiment": run.experiment.name,
        "script": run.script,
        "command": run.command,
        "arguments": run.arguments,
        "params": summaries.params_of(run.arguments or []),
        "tags": run.tags,
        "properties": run.properties,
        "compute_target": run.compute_target.name if run.compute_target else "",
        "distributed": run.distributed,
        "environment": None
        if version is None
        else {"name": version.environment.name, "version": version.version, "spec": version.spec},
        "snapshot_sha256": run.snapshot_sha256,
        "created_at": run.created_at,
        "duration_seconds": run.duration_seconds,
        "parent": run.parent_id,
    }


@dataclass
class Series:
    run: int
    name: str
    steps: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True)
class EncodedSeries:
    """A thinned series with its columns already JSON-encoded (as kept in MetricSketch)."""

    run: int
    name: str
    steps_json: str
    values_json: str
    total: int


def encode(s: Series) -> EncodedSeries:
    # 7 significant digits: what a chart can show, and half the bytes of a full repr.
    values = "[" + ",".join(f"{v:.7g}" for v in s.values) + "]"
    steps = "[" + ",".join(str(int(x)) if float(x).is_integer() else repr(float(x)) for x in s.steps) + "]"
    return EncodedSeries(s.run, s.name, steps, values, s.total)


def series(run_ids: list[int], names: set[str] | None, max_points: int) -> list[EncodedSeries]:
    """Every scalar metric of the runs (or those in ``names``) as columns, x = step (or the
    point's index when logged without one), in logging order; longer series are reduced to
    at most ``max_points`` by keeping each bucket's lowest and highest point, so spikes
    survive the thinning.

    At the default size a thinned series is kept (MetricSketch) while its metric's point
    count (MetricSummary.points) stays the same: reading a million points costs seconds,
    the kept sketches a few milliseconds. Only series without a current sketch are read
    from their points, with one cursor (no model instances)."""
    if not run_ids or names == set():
        return []
    wanted = MetricSummary.objects.filter(run_id__in=run_ids).order_by()
    if names is not None:
        wanted = wanted.filter(name__in=names)
    counts = {(run, name): points for run, name, points in wanted.values_list("run_id", "name", "points")}
    keep = max_points == DEFAULT_POINTS
    found: dict[tuple[int, str], EncodedSeries] = {}
    if keep:
        sketches = MetricSketch.objects.filter(run_id__in=run_ids, max_points=max_points).order_by()
        columns = ("run_id", "name", "points", "steps_json", "values_json")
        for run, name, points, steps, values in sketches.values_list(*columns):
            if counts.get((run, name)) == points:
                found[(run, name)] = EncodedSeries(run, name, steps, values, points)
    stale: dict[int, set[str]] = {}
    for run, name in counts:
        if (run, name) not in found:
            stale.setdefault(run, set()).add(name)
    for run, stale_names in stale.items():
        for s in _read_points(run, stale_names):
            encoded = encode(_thinned(s, max_points))
            found[(s.run, s.name)] = encoded
            if keep:
                MetricSketch.objects.update_or_create(
                    run_id=s.run,
                    name=s.name,
                    defaults={
                        "max_points": max_points,
                        "points": s.total,
                        "steps_json": encoded.steps_json,
                        "values_json": encoded.values_json,
                    },
                )
    order = {run: i for i, run in enumerate(run_ids)}
    return sorted((s for s in found.values() if s.total), key=lambda s: (order[s.run], s.name))


def series_json(found: list[EncodedSeries]) -> str:
    """The answer's body, the kept columns spliced in as they are."""
    parts = [
        f'{{"run":{s.run},"name":{json.dumps(s.name)},"steps":{s.steps_json},"values":{s.values_json},"total":{s.total}}}'
        for s in found
    ]
    return '{"series":[' + ",".join(parts) + "]}"


def _read_points(run_id: int, names: set[str]) -> list[Series]:
    """The metrics' points from their chunks, x = step or position (runs.metricstore)."""
    out: list[Series] = []
    current: Series | None = None
    for chunk in metricstore.chunks([run_id], names):
        if current is None or current.name != chunk.name:
            current = Series(run_id, chunk.name)
            out.append(current)
        current.steps.extend(chunk.xs())
        current.values.extend(chunk.values)
        current.total += len(chunk.values)
    return out


def _thinned(s: Series, max_points: int) -> Series:
    if s.total <= max_points:
        return s
    buckets = max(1, max_points // 2)
    size = s.total / buckets
    steps: list[float] = []
    values: list[float] = []
    for b in range(buckets):
        lo, hi = int(b * size), min(s.total, int((b + 1) * size))
        if lo >= hi:
            continue
        chunk = s.values[lo:hi]
        i_min = lo + min(range(len(chunk)), key=chunk.__getitem__)
        i_max = lo + max(range(len(chunk)), key=chunk.__getitem__)
        for i in sorted({i_min, i_max}):
            steps.append(s.steps[i])
            values.append(s.values[i])
    return Series(s.run, s.name, steps, values, s.total)


# ---- code snapshots --------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotFile:
    sha256: str
    size: int


def manifest(sha256: str) -> dict[str, SnapshotFile]:
    """A stored snapshot's files with their hashes (streamed through the archive checks)."""
    if not sha256:
        return {}
    path = snapshots.path_of(sha256)
    if not path.exists():
        return {}
    out = {}
    for member, reader in archives.entries(path, snapshots.limits(), field="snapshot"):
        if reader is None:
            continue
        digest = hashlib.sha256()
        while chunk := reader.read(archives.CHUNK):
            digest.update(chunk)
        out[member.path] = SnapshotFile(digest.hexdigest(), member.size)
    return out


def texts(sha256: str, wanted: set[str]) -> dict[str, str]:
    """The text of ``wanted`` files of a snapshot (UTF-8 files up to TEXT_LIMIT only)."""
    if not sha256 or not wanted:
        return {}
    out = {}
    for member, reader in archives.entries(snapshots.path_of(sha256), snapshots.limits(), field="snapshot"):
        if reader is None or member.path not in wanted or member.size > TEXT_LIMIT:
            if reader is not None:
                while reader.read(archives.CHUNK):
                    pass
            continue
        data = reader.read()
        try:
            out[member.path] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return out


def snapshot_diff(runs: Iterable[Run]) -> dict[str, Any]:
    """Every file of any of the runs' snapshots, with each run's hash and size (null where a
    run lacks it), and the text of the files that differ, by run id."""
    runs = list(runs)
    manifests: dict[str, dict[str, SnapshotFile]] = {}
    try:
        for run in runs:
            if run.snapshot_sha256 not in manifests:
                manifests[run.snapshot_sha256] = manifest(run.snapshot_sha256)
    except UnsafeArchive as exc:  # a stored snapshot is checked on upload; say so if one goes bad
        return {"files": [], "texts": {}, "error": str(exc)}
    paths = sorted({p for m in manifests.values() for p in m})
    files = []
    changed = []
    for p in paths:
        entries = {run.pk: manifests[run.snapshot_sha256].get(p) for run in runs}
        hashes = {e.sha256 if e else None for e in entries.values()}
        differs = len(hashes) > 1
        files.append(
            {
                "path": p,
                "changed": differs,
                "sha256": {str(k): e.sha256 if e else None for k, e in entries.items()},
                "size": {str(k): e.size if e else None for k, e in entries.items()},
            }
        )
        if differs:
            changed.append(p)
    shown = set(changed[:MAX_TEXT_FILES])
    by_snapshot = {sha: texts(sha, shown) for sha in manifests}
    return {
        "files": files,
        "texts": {p: {str(run.pk): by_snapshot[run.snapshot_sha256].get(p) for run in runs} for p in sorted(shown)},
        "error": "",
    }
