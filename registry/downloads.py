"""Reading a model version's files out: one file, the whole version as a tar stream,
and a short text preview for the dashboard."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from rest_framework import exceptions, serializers

from datasets import storage
from registry.models import ModelFile, ModelVersion

PREVIEW_BYTES = 64 * 1024
BLOCK = tarfile.BLOCKSIZE


class ModelFilePreviewSerializer(serializers.Serializer[Any]):
    path = serializers.CharField()
    size = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["json", "text", "binary"])
    text = serializers.CharField(allow_blank=True, help_text="At most 64 KiB; JSON pretty-printed when whole.")
    truncated = serializers.BooleanField()


def _blob(item: ModelFile) -> Any:
    try:
        return open(storage.blob_path(item.sha256), "rb")
    except FileNotFoundError:
        raise exceptions.NotFound(f"The stored content of '{item.path}' is missing.") from None


def one_file(item: ModelFile) -> FileResponse:
    return FileResponse(_blob(item), as_attachment=True, filename=item.path.rsplit("/", 1)[-1])


def _tar_chunks(files: list[ModelFile]) -> Iterator[bytes]:
    """A plain ustar/pax stream written header by header: a file's bytes are read in
    1 MiB chunks from its blob, so a large model never sits in memory."""
    for item in files:
        info = tarfile.TarInfo(item.path)
        info.size = item.size
        info.mode = 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        with _blob(item) as handle:
            while chunk := handle.read(storage.CHUNK):
                yield chunk
        if item.size % BLOCK:
            yield b"\0" * (BLOCK - item.size % BLOCK)
    yield b"\0" * (2 * BLOCK)


def tar_response(version: ModelVersion) -> StreamingHttpResponse:
    files = list(version.files.order_by("path"))
    missing = [f.path for f in files if not storage.blob_path(f.sha256).exists()]
    if missing:
        raise exceptions.NotFound(f"The stored content of '{missing[0]}' is missing.")
    response = StreamingHttpResponse(_tar_chunks(files), content_type="application/x-tar")
    name = f"{version.model.name}-{version.version}.tar"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def preview(item: ModelFile) -> dict[str, Any]:
    with _blob(item) as handle:
        raw = handle.read(PREVIEW_BYTES + 1)
    truncated = len(raw) > PREVIEW_BYTES
    raw = raw[:PREVIEW_BYTES]
    if b"\0" in raw:
        return {"path": item.path, "size": item.size, "kind": "binary", "text": "", "truncated": truncated}
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        if not truncated or exc.start < len(raw) - 4:  # a cut multi-byte character is fine
            return {"path": item.path, "size": item.size, "kind": "binary", "text": "", "truncated": truncated}
        text = raw[: exc.start].decode()
    kind = "text"
    if item.path.lower().endswith(".json") and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2)
            kind = "json"
        except ValueError:
            pass
    return {"path": item.path, "size": item.size, "kind": kind, "text": text, "truncated": truncated}
