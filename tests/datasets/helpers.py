"""Upload helpers for dataset tests: multipart bodies with whole relative paths,
archives, and looks into the dataset store."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def blobs(store: Path) -> set[str]:
    return {p.name for p in (store / "blobs").glob("*/*")}


def temp_files(store: Path) -> list[Path]:
    return list((store / "tmp").glob("*")) if (store / "tmp").exists() else []


class Part:
    """A multipart file part whose filename (a relative path) is sent as is."""

    def __init__(self, filename: str, content: bytes | str, field: str = "files") -> None:
        self.filename = filename
        self.content = content.encode() if isinstance(content, str) else content
        self.field = field


def multipart(fields: dict[str, Any], parts: list[Part]) -> tuple[bytes, str]:
    """Encode a multipart body by hand: Django's test client would cut filenames to their
    last component, while browsers (webkitRelativePath) and the SDK send the whole path."""
    boundary = "----runyard-test-boundary-7MA4YWxkTrZu0gW"
    out = io.BytesIO()
    for key, value in fields.items():
        text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{text}\r\n'.encode())
    for part in parts:
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{part.field}"; filename="{part.filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        out.write(part.content)
        out.write(b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def folder(files: Mapping[str, str | bytes]) -> list[Part]:
    return [Part(path, content) for path, content in files.items()]


def zip_bytes(files: Mapping[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, content in files.items():
            zf.writestr(path, content)
    return buf.getvalue()


def tar_bytes(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                info.mode = 0o644
                tf.addfile(info, io.BytesIO(member[1]))
    return buf.getvalue()


def post_parts(client: Any, url: str, fields: dict[str, Any], parts: list[Part]) -> Any:
    body, content_type = multipart(fields, parts)
    return client.post(url, data=body, content_type=content_type)


def create_dataset(client: Any, name: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/datasets/", {"name": name, **extra}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def register(
    client: Any,
    dataset_id: int,
    *,
    files: list[Part] | None = None,
    archive: bytes | None = None,
    archive_name: str = "data.zip",
    expect: int = 201,
    **fields: Any,
) -> dict[str, Any]:
    parts = list(files or [])
    if archive is not None:
        parts.append(Part(archive_name, archive, field="archive"))
    response = post_parts(client, f"/api/datasets/{dataset_id}/versions/", fields, parts)
    assert response.status_code == expect, response.content
    return dict(response.json())
