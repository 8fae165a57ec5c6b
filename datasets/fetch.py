"""Fetching web-URL dataset files on the worker, with a cache keyed by URL and content.

Layout under ``DATASET_DIR/url-cache/``::

    entries/<sha256 of the URL>.json   what we last got: ETag, Last-Modified, sha256, size
    blobs/<sha[:2]>/<sha>              each distinct content once, read-only

Algorithm, for each URL a run needs (at Preparing, one after the other):

1. With a cache entry whose blob exists, send a conditional GET (``If-None-Match`` with
   its ETag, ``If-Modified-Since`` with its Last-Modified). ``304 Not Modified``: reuse
   the blob, nothing is transferred.
2. Otherwise (no entry, no validators, or ``200``), stream the body into ``tmp/`` in
   1 MiB chunks while hashing it, refusing more than ``DATASET_URL_MAX_BYTES``; move it
   to its content-addressed blob (identical content is stored once, whatever its URL)
   and rewrite the entry atomically.

So content is revalidated on every run (a URL dataset reads the URL's current content,
as Azure's does) but fetched again only when it changed; a server that sends neither
ETag nor Last-Modified is fetched every time, deduplicated by hash. The run's log names
each URL with the sha256 it got, so a run's input is traceable after the URL changes.

Safety (see datasets.webpolicy): the host is resolved here and the connection made to
the checked address itself (no second lookup to rebind); each redirect (at most 5) is
checked the same way; proxies from the environment are not used; every socket operation
times out after ``DATASET_URL_TIMEOUT_SECONDS`` and a transfer after ``DATASET_URL_MAX_SECONDS``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from datasets import conf, storage, webpolicy

MAX_REDIRECTS = 5
PROGRESS_EVERY = 64 * 1024 * 1024
USER_AGENT = "Runyard dataset fetcher"


class FetchError(Exception):
    """A web file could not be fetched; the message names the URL and why."""


@dataclass(frozen=True)
class Fetched:
    """One web file as a run gets it."""

    path: str  # inside the dataset
    url: str
    sha256: str
    size: int
    blob: Path
    transferred: bool  # False: the cached content was still current (304)


def cache_dir() -> Path:
    return storage.root() / "url-cache"


def cached_blob(sha256: str) -> Path:
    return cache_dir() / "blobs" / sha256[:2] / sha256


def _entry_path(url: str) -> Path:
    return cache_dir() / "entries" / f"{hashlib.sha256(url.encode()).hexdigest()}.json"


def _read_entry(url: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(_entry_path(url).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("url") != url or not cached_blob(str(entry.get("sha256"))).exists():
        return None
    return entry


def _write_entry(url: str, entry: dict[str, Any]) -> None:
    path = _entry_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        json.dump(entry, out)
    os.replace(tmp, path)


# ---- connections pinned to a checked address -----------------------------------------
class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self._tls)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)  # certificate of the name


def _resolve(url: str, host: str, port: int) -> str:
    """The first address of ``host``; every address it has must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"{url}: cannot resolve host '{host}' ({exc.strerror}).") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    for address in addresses:
        if not webpolicy.address_allowed(host, address):
            raise FetchError(webpolicy.refusal(host, address, url))
    return str(addresses[0])


def _open(url: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection, str]:
    """GET ``url`` following redirects; returns (response, its connection, final URL)."""
    timeout = conf.url_timeout()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(f"{url}: redirected to {current!r}, which is not an http(s) URL.")
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        address = _resolve(url, host, port)
        conn: http.client.HTTPConnection = (_PinnedHTTPS if scheme == "https" else _PinnedHTTP)(
            host, port, address, timeout
        )
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", target, headers={"User-Agent": USER_AGENT, **headers})
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
            current = urljoin(current, response.getheader("Location") or "")
            conn.close()
            continue
        return response, conn, current
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects.")


def _stream(url: str, response: http.client.HTTPResponse, say: Callable[[str], None]) -> tuple[Path, str, int]:
    limit = conf.url_max_bytes()
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{url}: {int(declared)} bytes is over the limit of {limit} (RUNYARD_DATASET_URL_MAX_BYTES).")
    digest = hashlib.sha256()
    size = 0
    next_report = PROGRESS_EVERY
    # The socket timeout bounds each read; this bounds a server that trickles bytes forever.
    deadline = time.monotonic() + conf.url_max_seconds()
    fd, name = tempfile.mkstemp(dir=storage.tmp_dir(), suffix=".url")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := response.read(storage.CHUNK):
                size += len(chunk)
                if size > limit:
                    raise FetchError(f"{url}: more than {limit} bytes (RUNYARD_DATASET_URL_MAX_BYTES).")
                if time.monotonic() > deadline:
                    raise FetchError(
                        f"{url}: not done after {conf.url_max_seconds():g} s (RUNYARD_DATASET_URL_MAX_SECONDS)."
                    )
                digest.update(chunk)
                out.write(chunk)
                if size >= next_report:
                    say(f"  {url}: {size // (1024 * 1024)} MB so far")
                    next_report += PROGRESS_EVERY
        if declared and declared.isdigit() and size != int(declared):
            raise FetchError(f"{url}: the connection ended after {size} of {declared} bytes.")
    except (OSError, http.client.HTTPException) as exc:
        Path(name).unlink(missing_ok=True)
        raise FetchError(f"{url}: reading the body failed ({type(exc).__name__}: {exc}).") from None
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name), digest.hexdigest(), size


def fetch(path: str, url: str, say: Callable[[str], None]) -> Fetched:
    """The current content of ``url``, from the cache when it is still valid."""
    entry = _read_entry(url)
    headers: dict[str, str] = {}
    if entry is not None:
        if entry.get("etag"):
            headers["If-None-Match"] = str(entry["etag"])
        if entry.get("last_modified"):
            headers["If-Modified-Since"] = str(entry["last_modified"])
    response, conn, _final = _open(url, headers)
    try:
        if response.status == 304 and entry is not None:
            with contextlib.suppress(OSError):
                os.utime(_entry_path(url))  # its mtime is its last use (see prune)
            sha = str(entry["sha256"])
            return Fetched(path, url, sha, int(entry["size"]), cached_blob(sha), transferred=False)
        if response.status != 200:
            raise FetchError(f"{url}: the server answered {response.status} {response.reason}.")
        tmp, sha, size = _stream(url, response, say)
    finally:
        conn.close()
    blob = cached_blob(sha)
    if blob.exists():
        tmp.unlink(missing_ok=True)
    else:
        blob.parent.mkdir(parents=True, exist_ok=True)
        tmp.chmod(0o444)
        os.replace(tmp, blob)
    validators = {"etag": response.getheader("ETag"), "last_modified": response.getheader("Last-Modified")}
    with contextlib.suppress(OSError):  # a cache we cannot write only costs a refetch
        _write_entry(url, {"url": url, "sha256": sha, "size": size, **validators})
    return Fetched(path, url, sha, size, blob, transferred=True)


def fetch_all(files: list[tuple[str, str]], say: Callable[[str], None]) -> list[Fetched]:
    """Fetch (path, URL) pairs in order, saying what each got; the first failure raises."""
    got = []
    for index, (path, url) in enumerate(files, start=1):
        item = fetch(path, url, say)
        how = "fetched" if item.transferred else "unchanged, from the cache"
        say(f"  [{index}/{len(files)}] {url} -> {path}: {item.size} bytes, sha256 {item.sha256[:12]}… ({how})")
        got.append(item)
    return got


def prune(older_than: float) -> dict[str, int]:
    """Drop cache entries not used for ``older_than`` seconds, then the blobs no entry
    names. Trees already built from a blob keep their hard links, so a run never loses
    a file it was given; a later run just fetches the URL again."""
    cutoff = time.time() - older_than
    entries = removed_entries = 0
    wanted: set[str] = set()
    for path in (cache_dir() / "entries").glob("*.json"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed_entries += 1
                continue
            entries += 1
            wanted.add(str(json.loads(path.read_text()).get("sha256")))
        except (OSError, ValueError):
            continue
    removed_blobs = 0
    for blob in (cache_dir() / "blobs").glob("*/*"):
        # Old ones only: a blob just fetched may not have its entry written yet.
        with contextlib.suppress(FileNotFoundError):
            if blob.name not in wanted and blob.stat().st_mtime < cutoff:
                blob.unlink()
                removed_blobs += 1
    return {"url_cache_entries": removed_entries, "url_cache_blobs": removed_blobs}
