"""Why a run failed, read from its stored log: the failing rank, the exception of its last
Python traceback, and its last stderr lines, each with the seq that links into the log.

The failing rank is the first to have exited non-zero (the others are often killed
after it and print only a SIGTERM notice); without one, the rank that wrote the last
stderr line. Only the tail of that rank's log is read (``TAIL_LINES``): a traceback is at
the end, and the log can hold millions of lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rest_framework import serializers

from runs import logstore
from runs.models import LogChunk, Run

TAIL_LINES = 400
EXCERPT_LINES = 20
TRACEBACK_START = "Traceback (most recent call last):"
# "ValueError: bad", "torch.distributed.DistBackendError: ...", "KeyboardInterrupt".
EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")
# Without a traceback (a C++ abort, a shell error): the last line that names an error.
ERROR_LINE = re.compile(r"^(?:[\w.]+(?:Error|Exception)|error|fatal|FATAL|ERROR)\b[:\s]", re.IGNORECASE)


@dataclass(slots=True)
class ExcerptLine:
    seq: int
    rank: int
    stream: str
    text: str


@dataclass(slots=True)
class Diagnosis:
    run: int
    status: str
    rank: int | None = None
    exit_code: int | None = None
    exception_type: str = ""
    message: str = ""
    # The traceback's first line and the exception line: where "show in log" lands.
    traceback_seq: int | None = None
    error_seq: int | None = None
    lines: list[ExcerptLine] = field(default_factory=list)


def failing_rank(run: Run) -> tuple[int | None, int | None]:
    failed = (
        run.processes.exclude(exit_code=0)
        .exclude(exit_code__isnull=True)
        .order_by("ended_at", "rank")
        .values_list("rank", "exit_code")
        .first()
    )
    if failed:
        return failed[0], failed[1]
    last = logstore.tail(run.pk, 1, lambda line: line.stream == LogChunk.Stream.STDERR)
    return (last[0].rank if last else None), run.exit_code


def parse_exception(lines: list[ExcerptLine]) -> tuple[str, str, int | None, int | None]:
    """(type, message, traceback seq, exception line seq) from the last traceback in `lines`."""
    start = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].text.strip() == TRACEBACK_START), None)
    if start is not None:
        for i in range(start + 1, len(lines)):
            text = lines[i].text
            if not text.strip() or text[:1].isspace():
                continue  # a frame ("  File ...", its source line, "    ^^^^")
            match = EXCEPTION_LINE.match(text.rstrip())
            if match:
                message = [match.group("message") or ""]
                # A message may go on over several lines until the next blank or unindented marker.
                for follow in lines[i + 1 : i + 6]:
                    if not follow.text.strip() or follow.text.strip() == TRACEBACK_START:
                        break
                    if follow.text.startswith(("During handling", "The above exception")):
                        break
                    message.append(follow.text)
                return match.group("type"), "\n".join(message).strip(), lines[start].seq, lines[i].seq
            return "", text.strip(), lines[start].seq, lines[i].seq
        return "", "", lines[start].seq, None
    for line in reversed(lines):
        if ERROR_LINE.match(line.text.strip()):
            head, _, rest = line.text.strip().partition(":")
            return head, rest.strip(), None, line.seq
    return "", "", None, None


def diagnose(run: Run) -> Diagnosis:
    out = Diagnosis(run=run.pk, status=run.status)
    rank, out.exit_code = failing_rank(run)
    out.rank = rank
    rows = logstore.tail(
        run.pk,
        TAIL_LINES,
        lambda line: line.stream != LogChunk.Stream.SYSTEM,
        rank=rank,
    )
    lines = [ExcerptLine(line.seq, line.rank, line.stream, line.text) for line in rows]
    # Tracebacks go to stderr; stdout lines flushed at exit would land inside one.
    stderr = [line for line in lines if line.stream == LogChunk.Stream.STDERR] or lines
    out.exception_type, out.message, out.traceback_seq, out.error_seq = parse_exception(stderr)
    out.lines = stderr[-EXCERPT_LINES:]
    return out


class ExcerptLineSerializer(serializers.Serializer[ExcerptLine]):
    seq = serializers.IntegerField()
    rank = serializers.IntegerField()
    stream = serializers.CharField()
    text = serializers.CharField()


class DiagnosisSerializer(serializers.Serializer[Diagnosis]):
    """A run's error excerpt; empty fields when its log shows no error."""

    run = serializers.IntegerField()
    status = serializers.CharField()
    rank = serializers.IntegerField(allow_null=True, help_text="The failing rank: the first to exit non-zero.")
    exit_code = serializers.IntegerField(allow_null=True)
    exception_type = serializers.CharField(help_text="From the last Python traceback, e.g. ValueError.")
    message = serializers.CharField()
    traceback_seq = serializers.IntegerField(allow_null=True, help_text="Seq of the traceback's first line.")
    error_seq = serializers.IntegerField(allow_null=True, help_text="Seq of the exception line: link the log there.")
    lines = ExcerptLineSerializer(many=True, help_text="The failing rank's last stderr lines.")
