"""Dataset settings, read from ``settings.RUNYARD`` with safe defaults.

The keys (all optional; see README's configuration table):

- ``DATASET_DIR``: where blobs and version trees live (same filesystem for hard links).
- ``DATASTORE_ROOTS``: folders that registered datastores must lie under
  (``RUNYARD_DATASTORE_ROOTS``; default: the data dir's ``datastores/``).
- ``DATASET_ARCHIVE_MAX_BYTES`` / ``_MAX_FILES`` / ``_MAX_FILE_BYTES`` / ``_MAX_RATIO``:
  what an uploaded zip or tar may unpack to (in all, entries, one file); the ratio
  (unpacked ÷ packed) stops zip bombs.
- ``DATASET_READONLY_MOUNTS``: bind-mount mounted inputs read-only when running as root.
- ``DATASET_URLS``: who registers web-URL datasets: ``members`` (default), ``admins``, ``off``.
- ``DATASET_URL_ALLOWED_HOSTS``: host names, addresses or CIDRs a worker may fetch from
  although they are not public (loopback, private, link-local); empty: public only.
- ``DATASET_URL_MAX_BYTES`` / ``DATASET_URL_TIMEOUT_SECONDS`` (each connect and read) /
  ``DATASET_URL_MAX_SECONDS`` (the whole transfer): per fetched file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from common.archives import Limits

GIB = 1024**3


def _cfg() -> dict[str, Any]:
    return dict(getattr(settings, "RUNYARD", {}))


def dataset_dir() -> Path:
    value = _cfg().get("DATASET_DIR") or Path(settings.DATA_DIR) / "datasets"
    return Path(str(value))


def datastore_roots() -> list[Path]:
    """The allowed roots, resolved (symlinks followed) so containment checks are exact."""
    value: Any = _cfg().get("DATASTORE_ROOTS") or [Path(settings.DATA_DIR) / "datastores"]
    if isinstance(value, (str, Path)):
        value = [value]
    return [Path(str(p)).expanduser().resolve() for p in value]


def default_datastore_root() -> Path:
    return Path(settings.DATA_DIR) / "datastores" / "default"


def archive_limits() -> Limits:
    cfg = _cfg()
    max_bytes = int(cfg.get("DATASET_ARCHIVE_MAX_BYTES", 20 * GIB))
    return Limits(
        max_bytes=max_bytes,
        max_entries=int(cfg.get("DATASET_ARCHIVE_MAX_FILES", 100_000)),
        max_entry_bytes=int(cfg.get("DATASET_ARCHIVE_MAX_FILE_BYTES") or max_bytes),
        max_ratio=float(cfg.get("DATASET_ARCHIVE_MAX_RATIO", 200.0)),
    )


def readonly_mounts() -> bool:
    return bool(_cfg().get("DATASET_READONLY_MOUNTS", True))


def url_registration() -> str:
    return str(_cfg().get("DATASET_URLS", "members"))


def url_allowed_hosts() -> list[str]:
    value: Any = _cfg().get("DATASET_URL_ALLOWED_HOSTS") or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def url_max_bytes() -> int:
    return int(_cfg().get("DATASET_URL_MAX_BYTES", 10 * GIB))


def url_timeout() -> float:
    return float(_cfg().get("DATASET_URL_TIMEOUT_SECONDS", 60.0))


def url_max_seconds() -> float:
    return float(_cfg().get("DATASET_URL_MAX_SECONDS", 3600.0))
