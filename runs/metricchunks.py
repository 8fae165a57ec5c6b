"""The byte format of a ``MetricChunk`` row: one metric's scalar points of one stored batch.

A chunk holds ``n`` points at consecutive positions, in logging order, as three packed
arrays (``array`` module, no numpy), always **little-endian** whatever the host:

- ``value_bytes``: ``n`` float64, the values (always finite: the API refuses others,
  ``runs.metricstore.store`` keeps our own non-finite ones as text points);
- ``time_bytes``: ``n`` float64, unix seconds (UTC): what the SDK sends, so its points
  are stored without a datetime each. A float64 holds every microsecond exactly for
  times between 1698 and 2242 (|t| < 2**33 s: its spacing there is under 1 µs), so a
  time read back (``datetime.fromtimestamp(t, UTC)``) is the one logged;
- ``step_bytes``: empty when no point has a step; ``n`` int64 when every point has one;
  ``n`` int64 then ``n`` flag bytes (1: this point has no step, its int64 is 0) when
  only some do. A point without a step is drawn at its position, as before.

Beside the arrays the row keeps what queries read without unpacking: the count, the
first and last position, min / max / sum of the values, the latest time, and the
chunk's "top" point by MLflow's rule for a run's metric (highest step, a missing step
counting as 0, then latest time, then last logged): ``top_step``, ``top_time``,
``top_value``, so a run's latest MLflow value is one ordered row, not a scan of points.

Why chunks (bench/RESULTS.md, "metrics ingest"): a row per point cost SQLite ~22 ms of
B-tree work and ~5 ms of timestamp texts per 5000-point batch, three quarters of the
request; ten rows of packed arrays cost well under a millisecond. Pure functions here;
``runs.metricstore`` is the one module that writes and reads the rows.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

BIG_ENDIAN = sys.byteorder == "big"


@dataclass(frozen=True, slots=True)
class Packed:
    """One metric's points of a batch, ready to store as a MetricChunk row."""

    name: str
    count: int
    value_bytes: bytes
    step_bytes: bytes
    time_bytes: bytes
    min_value: float
    max_value: float
    value_sum: float
    last_time: float  # the latest of the times
    top_step: int
    top_time: float
    top_value: float


def _pack(code: str, items: Sequence[float] | Sequence[int]) -> bytes:
    packed = array(code, items)
    if BIG_ENDIAN:
        packed.byteswap()
    return packed.tobytes()


def _unpack(code: str, data: bytes | memoryview, count: int | None = None) -> list[float] | list[int]:
    out = array(code)
    if count is None:
        out.frombytes(data)
    else:
        out.frombytes(memoryview(data)[: count * out.itemsize])
    if BIG_ENDIAN:
        out.byteswap()
    return out.tolist()


def pack(name: str, values: Sequence[float], steps: Sequence[int | None], times: Sequence[float]) -> Packed:
    """Pack one metric's points (equal lengths, at least one point). Every per-point step
    is a C-level pass (``array``, ``min``/``max``, ``in``, ``index``); Python loops only
    over points that tie for the top."""
    n = len(values)
    if not n or len(steps) != n or len(times) != n:
        raise ValueError("a chunk needs one step and one time per value, and at least one value")
    if None not in steps:
        step_bytes = _pack("q", steps)  # type: ignore[arg-type]  # no None: checked
        ranked: Sequence[int] = steps  # type: ignore[assignment]
    else:
        ranked = [0 if s is None else s for s in steps]
        if all(s is None for s in steps):
            step_bytes = b""
        else:
            flags = bytes(1 if s is None else 0 for s in steps)
            step_bytes = _pack("q", ranked) + flags
    top_step, top = _top(ranked, times)
    return Packed(
        name=name,
        count=n,
        value_bytes=_pack("d", values),
        step_bytes=step_bytes,
        time_bytes=_pack("d", times),
        min_value=min(values),
        max_value=max(values),
        value_sum=sum(values),
        last_time=max(times),
        top_step=top_step,
        top_time=times[top],
        top_value=values[top],
    )


def _top(steps: Sequence[int], times: Sequence[float]) -> tuple[int, int]:
    """(step, index) of the point that ranks highest by (step, time, index)."""
    high = max(steps)
    first = steps.index(high)
    if steps.count(high) == 1:
        return high, first
    tied = [i for i in range(first, len(steps)) if steps[i] == high]
    latest = max(times[i] for i in tied)
    return high, max(i for i in tied if times[i] == latest)


def values(data: bytes | memoryview) -> list[float]:
    return _unpack("d", data)  # type: ignore[return-value]


def times(data: bytes | memoryview) -> list[float]:
    return _unpack("d", data)  # type: ignore[return-value]


def steps(data: bytes | memoryview, count: int) -> list[int | None]:
    """The steps of a chunk of ``count`` points (None where a point has none)."""
    if not len(data):
        return [None] * count
    numbers: list[int | None] = _unpack("q", data, count)  # type: ignore[assignment]
    if len(data) == count * 8:
        return numbers
    flags = bytes(memoryview(data)[count * 8 :])
    return [None if missing else s for s, missing in zip(numbers, flags, strict=True)]
