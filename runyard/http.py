"""The REST client every SDK object talks through: JSON, paging, streamed multipart uploads.

Standard library only (urllib), so it works inside any run environment. Multipart
bodies are generated part by part with a known Content-Length, so a 10 GB upload
never sits in memory, and the progress callback sees every chunk as it is sent.
"""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runyard import __version__
from runyard.exceptions import WebserviceException, describe_error_body

CHUNK = 1 << 20
USER_AGENT = f"runyard-sdk/{__version__}"
# Idempotent POSTs (run submission) are retried on these: 0 is "could not connect".
RETRY_STATUSES = frozenset({0, 502, 503, 504})
RETRIES = 3
RETRY_BACKOFF = 1.0


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart body: the form field, the name the server sees, and the bytes' source."""

    field: str
    filename: str
    path: Path | None = None
    content: bytes | None = None

    @property
    def size(self) -> int:
        if self.content is not None:
            return len(self.content)
        assert self.path is not None
        return self.path.stat().st_size

    def chunks(self) -> Iterator[bytes]:
        if self.content is not None:
            yield self.content
            return
        assert self.path is not None
        with open(self.path, "rb") as handle:
            yield from iter(lambda: handle.read(CHUNK), b"")


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """An iterable multipart/form-data body whose total length is known before sending."""

    def __init__(self, fields: dict[str, str], files: list[FilePart], on_bytes: Callable[[int], None] | None = None):
        self.boundary = "runyard-" + uuid.uuid4().hex
        self.on_bytes = on_bytes
        self._pieces: list[tuple[bytes, FilePart | None]] = []
        for name, value in fields.items():
            head = f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'
            self._pieces.append(((head + value + "\r\n").encode(), None))
        for part in files:
            ctype = mimetypes.guess_type(part.filename)[0] or "application/octet-stream"
            head = (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote(part.field)}"; '
                f'filename="{_quote(part.filename)}"\r\nContent-Type: {ctype}\r\n\r\n'
            )
            self._pieces.append((head.encode(), part))
        self._tail = f"--{self.boundary}--\r\n".encode()
        self.file_bytes = sum(p.size for _, p in self._pieces if p is not None)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        heads = sum(len(head) for head, _ in self._pieces)
        crlfs = 2 * sum(1 for _, p in self._pieces if p is not None)
        return heads + self.file_bytes + crlfs + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        for head, part in self._pieces:
            yield head
            if part is not None:
                for chunk in part.chunks():
                    yield chunk
                    if self.on_bytes:
                        self.on_bytes(len(chunk))
                yield b"\r\n"
        yield self._tail


class Client:
    """Authenticated calls to one Runyard server (``Authorization: Token <key>``)."""

    def __init__(self, url: str, token: str | None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # ---- building blocks -----------------------------------------------------------
    def absolute(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else f"{self.url}/{path.lstrip('/')}"
        if params:
            clean = {k: v for k, v in params.items() if v is not None}
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(clean, doseq=True)
        return url

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if self.token:
            out["Authorization"] = f"Token {self.token}"
        out.update(extra or {})
        return out

    def open(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send a request and return the open response; HTTP errors become WebserviceException."""
        request = urllib.request.Request(
            self.absolute(path, params), data=data, method=method, headers=self.headers(headers)
        )
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")[:500]
            message = describe_error_body(body) or exc.reason
            raise WebserviceException(f"{method} {path} failed ({exc.code}): {message}", exc.code, body) from None
        except urllib.error.URLError as exc:
            raise WebserviceException(f"Cannot reach Runyard at {self.url}: {exc.reason}", 0) from None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        data = None
        headers = {}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        with self.open(method, path, params=params, data=data, headers=headers, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    # ---- conveniences --------------------------------------------------------------
    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, json_body: Any = None, timeout: float | None = None) -> Any:
        return self.request("POST", path, json_body=json_body if json_body is not None else {}, timeout=timeout)

    def paged(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, following ``next`` links (offset or cursor pages)."""
        page: Any = self.get(path, **params)
        while True:
            if isinstance(page, list):
                yield from page
                return
            yield from page.get("results", [])
            nxt = page.get("next")
            if not nxt:
                return
            page = self.request("GET", nxt)

    def first(self, path: str, **params: Any) -> dict[str, Any] | None:
        for item in self.paged(path, **params):
            return item
        return None

    def post_multipart(
        self,
        path: str,
        fields: dict[str, str],
        files: list[FilePart],
        on_bytes: Callable[[int], None] | None = None,
        timeout: float | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """POST a multipart form. With an ``idempotency_key`` the request is retried
        (with the same key, so the server creates one object at most) when the server
        cannot be reached or answers 502/503/504."""
        attempts = RETRIES + 1 if idempotency_key else 1
        for attempt in range(attempts):
            body = MultipartBody(fields, files, on_bytes if attempt == 0 else None)
            headers = {"Content-Type": body.content_type, "Content-Length": str(len(body))}
            if idempotency_key:
                headers["Idempotency-Key"] = idempotency_key
            try:
                with self.open("POST", path, data=iter(body), headers=headers, timeout=timeout or 3600) as response:
                    raw = response.read()
                return json.loads(raw) if raw else None
            except WebserviceException as exc:
                if attempt + 1 >= attempts or exc.status not in RETRY_STATUSES:
                    raise
                time.sleep(RETRY_BACKOFF * 2**attempt)
        raise AssertionError("unreachable")

    def download(self, path: str, destination: str | os.PathLike[str], params: dict[str, Any] | None = None) -> Path:
        target = Path(destination)
        if target.parent:
            target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with self.open("GET", path, params=params, timeout=3600) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
        os.replace(partial, target)
        return target

    def read_text(self, path: str, params: dict[str, Any] | None = None) -> str:
        with self.open("GET", path, params=params) as response:
            data: bytes = response.read()
        return data.decode(errors="replace")
