"""A run's artifacts as one zip, streamed while it is written (``download all``).

zipfile writes to an unseekable sink with data descriptors, so no temporary file and no
whole archive in memory: each file is read in 1 MiB chunks and the bytes written so far
are handed to the response as they come.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from rest_framework import exceptions, serializers

from common.archives import UnsafeArchive
from runs import artifacts
from runs.models import Run


class _Sink:
    """A write-only file object zipfile can write to; ``take()`` empties it."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out


def _stream(paths: list[tuple[str, str]]) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:  # type: ignore[call-overload]
        for source, name in paths:
            with open(source, "rb") as f, archive.open(name, "w", force_zip64=True) as entry:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    entry.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def zip_response(run: Run, prefix: str) -> StreamingHttpResponse:
    wanted = prefix.strip().strip("/")
    if wanted:
        try:
            wanted = artifacts.clean_name(wanted, field="prefix")
        except UnsafeArchive as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
    rows = run.artifacts.order_by("path")
    if wanted:
        rows = rows.filter(path__startswith=wanted + "/")
    paths = [(str(artifacts.file_of(a)), a.path) for a in rows if artifacts.file_of(a).is_file()]
    if not paths:
        where = f" under '{wanted}'" if wanted else ""
        raise exceptions.NotFound(f"Run {run.pk} has no artifacts{where}.")
    name = f"run-{run.pk}{'-' + wanted.replace('/', '-') if wanted else ''}-artifacts.zip"
    response = StreamingHttpResponse(_stream(paths), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
