"""Package indexes of environment builds: the host's pip configuration, the indexes
admins allow, and the ones an environment spec selects.

Where a build looks for packages (``sources_for``), on every compute kind:

1. **The worker host's settings**: pip's own configuration, as ``python -m pip config
   list`` reports it (pip.conf files, ``PIP_CONFIG_FILE``, ``PIP_*`` variables):
   ``index-url``, ``extra-index-url``, ``find-links``, ``trusted-host``, a command's
   ``[install]`` section winning over ``[global]`` and pip's environment variables over
   both, as in pip. A ``RUNYARD_PIP_*`` setting, when set, replaces its key (the
   override for a worker whose pip is configured for something else);
   ``RUNYARD_PIP_HOST_CONFIG=off`` ignores pip's configuration.
2. **The spec's allowed indexes** (``PackageIndex``, defined by admins: name → URL,
   with credentials kept write-only): ``package_indexes`` are searched besides the
   host's (pip's ``--extra-index-url``); ``default_index`` replaces the host's
   ``index-url`` (pip's ``--index-url``). A spec may also carry them as pip option
   lines, in ``pip_requirements`` or the pip section of a conda specification
   (``--extra-index-url URL``, ``--index-url URL``, ``-i URL``, ``--trusted-host H``):
   each must name an allowed index's URL, else the spec is refused naming the field.
   ``normalize`` turns the lines into names, so a spec says its indexes one way.

The selected names are part of the content hash (environments.spec); where an index
lives and its credentials are not: an admin moving an index to a mirror does not
rebuild every environment. Credentials never reach a command line or a log: uv gets
them in ``UV_INDEX_<NAME>_USERNAME``/``_PASSWORD`` and the build log masks them.

An extra index that cannot be reached from the worker is left out of a venv build with
a warning in its log, as pip does (uv would fail the whole build): a machine whose
local wheels (find-links) hold what the index would give still builds.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.masking import URL_CREDENTIALS

PROBE_TIMEOUT_SECONDS = 5.0
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# pip option lines a spec may carry; anything else starting with '-' stays refused.
_OPTION = re.compile(r"^\s*(?P<flag>--index-url|--extra-index-url|--trusted-host|-i)(?:\s*=\s*|\s+)(?P<value>\S+)\s*$")
_OPTION_START = re.compile(r"^\s*(--index-url|--extra-index-url|--trusted-host|-i)\b")
Errors = dict[str, list[str]]


# ---- the host's pip configuration -------------------------------------------------------
@dataclass(frozen=True)
class HostSettings:
    """The worker host's package-index settings, and where each came from."""

    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    origins: dict[str, str] = field(default_factory=dict)  # key -> "pip config global.find-links" etc.


_KEYS = ("index-url", "extra-index-url", "find-links", "trusted-host")
_OVERRIDES = {
    "index-url": "PIP_INDEX_URL",
    "extra-index-url": "PIP_EXTRA_INDEX_URLS",
    "find-links": "PIP_FIND_LINKS",
    "trusted-host": "PIP_TRUSTED_HOSTS",
}


def _pip_command() -> list[str] | None:
    """pip of the worker's interpreter (it reads the same files as the host's), else python3's."""
    import importlib.util

    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    python3 = shutil.which("python3")
    return [python3, "-m", "pip"] if python3 else None


def pip_config() -> dict[str, str]:
    """What ``pip config list`` says, as {"section.key": value} (``:env:.key`` for
    ``PIP_*`` variables and the ``PIP_CONFIG_FILE`` file); {} when pip is not there."""
    command = _pip_command()
    if command is None:
        return {}
    env = {k: v for k, v in os.environ.items() if k != "PIP_REQUIRE_VIRTUALENV"}
    try:
        listed = subprocess.run(
            [*command, "config", "list"], capture_output=True, text=True, errors="replace", timeout=60, env=env
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out: dict[str, str] = {}
    for line in listed.stdout.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        try:
            parsed = ast.literal_eval(value)  # pip prints key=repr(value)
        except (ValueError, SyntaxError):
            parsed = value
        out[key.strip()] = str(parsed)
    return out


def _pip_value(config: dict[str, str], key: str) -> tuple[str, str] | None:
    """(value, where) of ``key`` as pip's install command sees it."""
    for section in (":env:", "install", "global"):
        if f"{section}.{key}" in config:
            where = "PIP_" + key.upper().replace("-", "_") if section == ":env:" else f"{section}.{key}"
            return config[f"{section}.{key}"], f"pip config ({where})"
    return None


def host_settings() -> HostSettings:
    """The host's settings: pip's configuration, each key replaced by its
    ``RUNYARD_PIP_*`` setting when that is set."""
    from django.conf import settings

    cfg = settings.RUNYARD
    config = pip_config() if cfg.get("PIP_HOST_CONFIG", "on") == "on" else {}
    values: dict[str, list[str]] = {}
    origins: dict[str, str] = {}
    for key in _KEYS:
        override = cfg.get(_OVERRIDES[key])
        if override:
            values[key] = [override] if isinstance(override, str) else [str(v) for v in override]
            origins[key] = f"RUNYARD_{_OVERRIDES[key]}"
            continue
        found = _pip_value(config, key)
        if found:
            values[key] = found[0].split()
            origins[key] = found[1]
    return HostSettings(
        index_url=(values.get("index-url") or [""])[0],
        extra_index_urls=tuple(values.get("extra-index-url", [])),
        find_links=tuple(values.get("find-links", [])),
        trusted_hosts=tuple(values.get("trusted-host", [])),
        origins=origins,
    )


# ---- URLs ---------------------------------------------------------------------------------
def canonical_url(url: str) -> str:
    """An index URL as compared: scheme and host lower-cased, no trailing slash."""
    parts = urllib.parse.urlsplit(url.strip())
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )


def check_index_url(url: str) -> str | None:
    """Why ``url`` cannot be an allowed index's URL, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https", "file"):
        return "Give an http://, https:// or file:// URL."
    if parts.scheme != "file" and not parts.hostname:
        return "The URL has no host."
    if parts.scheme == "file" and (parts.netloc not in ("", "localhost") or not parts.path.startswith("/")):
        return "A file:// URL names an absolute path on the worker: file:///path/to/simple."
    if parts.username or parts.password:
        return "Give the URL without credentials: set username and password."
    return None


def split_credentials(url: str) -> tuple[str, str, str]:
    """(URL without credentials, username, password) of ``scheme://user:password@host/…``."""
    parts = urllib.parse.urlsplit(url.strip())
    if not parts.username and not parts.password:
        return url.strip(), "", ""
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return (
        bare,
        urllib.parse.unquote(parts.username or ""),
        urllib.parse.unquote(parts.password or ""),
    )


def local_path(source: str) -> Path | None:
    """The folder behind a ``--find-links`` path or a ``file://`` index (a PEP 503
    tree's parent: its pages link to files beside it), when it exists."""
    source = source.strip()
    if not source or ("://" in source and not source.startswith("file://")):
        return None
    path = Path(urllib.parse.unquote(urllib.parse.urlsplit(source).path) if "://" in source else source)
    if path.name == "simple":
        path = path.parent
    return path if path.is_absolute() and path.exists() else None


# ---- what a spec selects ------------------------------------------------------------------
def is_index_option(line: str) -> bool:
    """A pip option line about indexes (checked by ``check_spec``, not refused as an option)."""
    return bool(_OPTION_START.match(line))


def requirement_lines(lines: Iterable[str]) -> list[str]:
    """``lines`` without their index option lines (those become the spec's index fields)."""
    return [line for line in lines if not is_index_option(line)]


def _allowed() -> dict[str, Any]:
    from environments.models import PackageIndex

    return {canonical_url(row.url): row for row in PackageIndex.objects.all()}


def _from_lines(
    lines: list[str], field_name: str, spec: dict[str, Any], errors: Errors, allowed: dict[str, Any]
) -> None:
    """Move the index option lines of ``lines`` into the spec's index fields."""
    for line in lines:
        match = _OPTION.match(line)
        if match is None:
            errors.setdefault(field_name, []).append(f"'{line.strip()}': give the option and one URL or host.")
            continue
        flag, value = match.group("flag"), match.group("value")
        if flag == "--trusted-host":
            hosts = {urllib.parse.urlsplit(row.url).hostname for row in allowed.values()}
            if value.split(":")[0].lower() not in hosts:
                errors.setdefault(field_name, []).append(
                    f"'{line.strip()}': '{value}' is not the host of an allowed package index."
                )
            continue  # an allowed index is trusted as its admin configured it
        if split_credentials(value)[2] or split_credentials(value)[1]:
            errors.setdefault(field_name, []).append(
                f"'{URL_CREDENTIALS.sub(lambda m: m.group('head') + '***', line.strip())}': give the index "
                "without credentials (an admin stores them with the allowed index)."
            )
            continue
        row = allowed.get(canonical_url(value))
        if row is None:
            names = ", ".join(sorted(r.name for r in allowed.values())) or "none are defined"
            errors.setdefault(field_name, []).append(
                f"'{line.strip()}': {value} is not an allowed package index (allowed: {names})."
                " An admin allows indexes at /api/package-indexes/."
            )
            continue
        if flag in ("--index-url", "-i"):
            spec["default_index"] = row.name
        elif row.name not in spec["package_indexes"]:
            spec["package_indexes"].append(row.name)


def check_spec(spec: dict[str, Any], errors: Errors) -> None:
    """Validate and canonicalize the spec's index settings in place (environments.spec's
    ``normalize`` calls it): option lines become names, names must be allowed indexes."""
    names, default = spec.get("package_indexes"), spec.get("default_index")
    if isinstance(names, str):
        names = names.split()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        errors["package_indexes"] = ["Must be a list of allowed package index names."]
        names = []
    if not isinstance(default, str):
        errors["default_index"] = ["Must be the name of an allowed package index, or empty."]
        default = ""
    spec["package_indexes"] = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    spec["default_index"] = default.strip()
    option_lines = [line for line in spec["pip_requirements"] if is_index_option(line)]
    conda_lines: list[str] = []
    if spec.get("conda_specification") and "conda_specification" not in errors:
        from django.core.exceptions import ValidationError

        from environments.conda import pip_part

        try:
            conda_lines = [line for line in pip_part(spec["conda_specification"]) if is_index_option(line)]
        except ValidationError:  # the conda check reports an unreadable file
            conda_lines = []
    if not (spec["package_indexes"] or spec["default_index"] or option_lines or conda_lines):
        return  # no query: most specs name no index
    allowed = _allowed()
    by_name = {row.name: row for row in allowed.values()}
    spec["pip_requirements"] = requirement_lines(spec["pip_requirements"])
    _from_lines(option_lines, "pip_requirements", spec, errors, allowed)
    _from_lines(conda_lines, "conda_specification", spec, errors, allowed)
    known = ", ".join(sorted(by_name)) or "none are defined"
    unknown = [n for n in spec["package_indexes"] if n not in by_name]
    if unknown:
        errors.setdefault("package_indexes", []).append(
            f"Not an allowed package index: {', '.join(unknown)} (allowed: {known})."
        )
    if spec["default_index"] and spec["default_index"] not in by_name:
        errors.setdefault("default_index", []).append(
            f"Not an allowed package index: {spec['default_index']} (allowed: {known})."
        )
    spec["package_indexes"] = [n for n in spec["package_indexes"] if n != spec["default_index"]]


def hashed_part(spec: dict[str, Any]) -> dict[str, Any]:
    """The index settings the content hash covers; empty when the spec selects none, so
    the hashes of specs from before index settings existed do not change."""
    out: dict[str, Any] = {}
    if spec.get("package_indexes"):
        # Sorted: the best version across all sources wins, so their order changes nothing.
        out["package_indexes"] = sorted(spec["package_indexes"])
    if spec.get("default_index"):
        out["default_index"] = spec["default_index"]
    return out


# ---- the sources of one build -------------------------------------------------------------
class IndexUnavailable(Exception):
    """A spec names an allowed index that no longer exists (an admin removed it)."""


@dataclass(frozen=True)
class Index:
    """One package index given to the installer; ``name`` is empty for the host's."""

    url: str
    name: str = ""
    username: str = ""
    password: str = ""
    origin: str = ""

    @property
    def uv_name(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", (self.name or "host").lower()).strip("-") or "index"

    @property
    def shown(self) -> str:
        label = f"'{self.name}' " if self.name else ""
        user = f" (as {self.username})" if self.username else ""
        return f"{label}{self.url}{user}"


@dataclass(frozen=True)
class BuildSources:
    """Where one build looks for packages: built by ``sources_for``."""

    default: Index | None = None
    extras: tuple[Index, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    missing_links: tuple[str, ...] = ()  # local find-links folders that do not exist (pip ignores them)

    @property
    def indexes(self) -> tuple[Index, ...]:
        return ((self.default,) if self.default else ()) + self.extras

    def secrets(self) -> list[str]:
        return [i.password for i in self.indexes if i.password]

    def local_paths(self) -> list[Path]:
        """Local folders a sandboxed install must read (find-links, file:// indexes)."""
        found: list[Path] = []
        for source in [*(i.url for i in self.indexes), *self.find_links]:
            path = local_path(source)
            if path is not None and path not in found:
                found.append(path)
        return found

    def _named(self) -> list[tuple[Index, str]]:
        """Each index with the name uv knows it by (unique), for credentials by name."""
        seen: dict[str, int] = {}
        out = []
        for index in self.indexes:
            base = index.uv_name
            seen[base] = seen.get(base, 0) + 1
            out.append((index, base if seen[base] == 1 else f"{base}-{seen[base]}"))
        return out

    def uv_args(self) -> list[str]:
        args: list[str] = []
        for index, name in self._named():
            flag = "--default-index" if index is self.default else "--index"
            args += [flag, f"{name}={index.url}" if index.username or index.password else index.url]
        for link in self.find_links:
            args += ["--find-links", link]
        for host in self.trusted_hosts:
            args += ["--allow-insecure-host", host]
        if self.extras or self.find_links:
            # pip's behaviour: the best version across all indexes, not the first index's.
            args += ["--index-strategy", "unsafe-best-match"]
        return args

    def uv_env(self) -> dict[str, str]:
        """Credentials as uv reads them for a named index: never on a command line."""
        env: dict[str, str] = {}
        for index, name in self._named():
            key = re.sub(r"[^A-Z0-9]", "_", name.upper())
            if index.username or index.password:
                env[f"UV_INDEX_{key}_USERNAME"] = index.username
                env[f"UV_INDEX_{key}_PASSWORD"] = index.password
        return env

    def describe(self) -> list[str]:
        lines = []
        if self.default:
            lines.append(f"Package index: {self.default.shown}{self._from(self.default)}")
        for index in self.extras:
            lines.append(f"Extra package index: {index.shown}{self._from(index)}")
        for link in self.find_links:
            lines.append(f"Find links: {link}")
        for link in self.missing_links:
            lines.append(f"Find links: {link} does not exist: left out, as pip does.")
        return lines

    @staticmethod
    def _from(index: Index) -> str:
        return f", from {index.origin}" if index.origin else ""


def _host_index(url: str, origin: str) -> Index:
    bare, user, password = split_credentials(url)
    return Index(url=bare, username=user, password=password, origin=origin)


def sources_for(spec: dict[str, Any], host: HostSettings | None = None) -> BuildSources:
    """The build sources of ``spec`` on this worker: the host's settings and the spec's
    allowed indexes (with their credentials), precedence as in the module docstring."""
    from environments.models import PackageIndex

    host = host if host is not None else host_settings()
    wanted = [*([spec["default_index"]] if spec.get("default_index") else []), *spec.get("package_indexes", [])]
    rows = {row.name: row for row in PackageIndex.objects.filter(name__in=wanted)} if wanted else {}
    gone = [name for name in wanted if name not in rows]
    if gone:
        raise IndexUnavailable(
            f"the environment selects package index(es) {', '.join(gone)}, which are no longer allowed "
            "(an admin removed them): register a version without them, or ask an admin to allow them again"
        )

    def allowed(name: str) -> Index:
        row = rows[name]
        return Index(url=row.url, name=row.name, username=row.username, password=row.password, origin="allowed index")

    default = allowed(spec["default_index"]) if spec.get("default_index") else None
    if default is None and host.index_url:
        default = _host_index(host.index_url, host.origins.get("index-url", ""))
    extras = [allowed(n) for n in spec.get("package_indexes", [])]
    extras += [_host_index(url, host.origins.get("extra-index-url", "")) for url in host.extra_index_urls]
    missing = tuple(link for link in host.find_links if "://" not in link and local_path(link) is None)
    links = tuple(link for link in host.find_links if link not in missing)
    return BuildSources(default, tuple(extras), links, host.trusted_hosts, missing)


def reachable(url: str) -> str | None:
    """None when the index answers at all (any HTTP status), else why not."""
    if not url.startswith(("http://", "https://")):
        return None if url.startswith("file://") and local_path(url) else "its folder does not exist"
    request = urllib.request.Request(url.rstrip("/") + "/", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_SECONDS):
            return None
    except urllib.error.HTTPError:
        return None  # it answered (401, 404…): uv reports what is wrong with it
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(exc).__name__


def without_unreachable(sources: BuildSources, say: Any) -> BuildSources:
    """``sources`` without the allowed extra indexes this worker cannot reach, each said
    in the build log: pip skips such an index with a warning, uv fails the build."""
    kept = []
    for index in sources.extras:
        why = reachable(index.url) if index.name else None
        if why is None:
            kept.append(index)
        else:
            say(f"Warning: package index {index.shown} is unreachable from this worker ({why}); building without it.")
    return dataclasses.replace(sources, extras=tuple(kept))
