"""Web-URL file datasets: which URLs are accepted and the relative path each file gets.

Shared by the SDK (``Dataset.File.from_files('https://…')``, ``to_path()`` of an
unregistered dataset) and the server (registration), so both name files the same way.
No Django and no network here.

A file's path inside the dataset is its URL's host and path with the longest common
folder prefix of all the dataset's URLs removed, as Azure does (``to_path()`` of
``from_files('https://host/demo/green.csv')`` is ``['/green.csv']``). Files of one host
share no host segment; URLs on several hosts keep the host as their first folder.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

SCHEMES = ("http", "https")
MAX_URL_CHARS = 2000


class BadUrl(ValueError):
    """A URL that cannot be a dataset file; the message names it and why."""


def is_web_url(value: object) -> bool:
    return isinstance(value, str) and value.split(":", 1)[0].lower() in SCHEMES and "://" in value


def check(url: object, where: str = "url") -> str:
    """The URL, stripped of its fragment, if it is an http(s) URL a dataset may name."""
    if not isinstance(url, str) or not url.strip():
        raise BadUrl(f"{where}: give a URL string.")
    text = url.strip()
    if len(text) > MAX_URL_CHARS:
        raise BadUrl(f"{where}: a URL may have at most {MAX_URL_CHARS} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in text):
        raise BadUrl(f"{where}: the URL contains spaces or control characters (percent-encode them).")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise BadUrl(f"{where}: {text!r} is not a valid URL ({exc}).") from None
    if parts.scheme.lower() not in SCHEMES:
        shown = parts.scheme or "none"
        raise BadUrl(f"{where}: scheme '{shown}' is not allowed in {text!r}; only http and https URLs are.")
    if not parts.hostname:
        raise BadUrl(f"{where}: {text!r} has no host.")
    if parts.username is not None or parts.password is not None:
        # Credentials would be stored and shown with the dataset: refuse rather than leak them.
        raise BadUrl(f"{where}: {text!r} carries credentials (user:password@); web datasets are public URLs.")
    if port == 0:
        raise BadUrl(f"{where}: {text!r} has port 0.")
    segments = [s for s in unquote(parts.path).split("/") if s]
    if not segments or parts.path.endswith("/"):
        raise BadUrl(f"{where}: {text!r} does not name a file (its path must end in a file name).")
    bad = [s for s in segments if s in (".", "..") or "\0" in s or "\\" in s]
    if bad:
        raise BadUrl(f"{where}: {text!r} has a path segment {bad[0]!r} that cannot be a file name.")
    return text.split("#", 1)[0]


def relative_paths(urls: list[str]) -> list[str]:
    """Each URL's path inside the dataset (see the module docstring), in the URLs' order."""
    split = [urlsplit(u) for u in urls]
    hosts = {(p.hostname or "").lower() for p in split}
    rows = []
    for parts in split:
        segments = [s for s in unquote(parts.path).split("/") if s]
        rows.append(([(parts.hostname or "").lower()] if len(hosts) > 1 else []) + segments)
    common = 0
    if rows:
        shortest = min(len(r) for r in rows)
        while common < shortest - 1 and all(r[common] == rows[0][common] for r in rows):
            common += 1
    paths = ["/".join(r[common:]) for r in rows]
    seen: dict[str, str] = {}
    for url, path in zip(urls, paths, strict=True):
        if path in seen:
            raise BadUrl(f"{url!r} and {seen[path]!r} would both be the file '{path}' of the dataset.")
        seen[path] = url
    return paths
