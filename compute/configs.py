"""The typed config of each compute kind, validated when a target is saved.

A target's ``config`` is stored as the JSON an admin gave; ``parse`` turns it into the
kind's frozen dataclass or raises ``ConfigError`` naming every bad key, so a typo or a
wrong value is refused at registration instead of failing the first run. Unknown keys
are not errors (a newer worker may know them) but come back as warnings.

Each field's ``metadata["parse"]`` turns the raw JSON value into the typed one or raises
``Invalid``. ``None`` and ``""`` mean "not set" (the backends always read them so).
Messages never repeat the value: a secret pasted into the wrong key stays out of
responses and the audit trail.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"


class Invalid(ValueError):
    """One value's problem, worded for the admin who typed it."""


class ConfigError(ValueError):
    """A target's config failed validation: ``errors`` maps each key ("tls.ca_cert"
    for nested ones, "" for the config as a whole) to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(self.messages()))

    def messages(self) -> list[str]:
        return [f"{key}: {msg}" if key else msg for key, msgs in self.errors.items() for msg in msgs]

    def detail(self) -> list[str] | dict[str, Any]:
        """DRF's shape: a list for the whole config, else nested dicts of lists."""
        if "" in self.errors:
            return list(self.errors[""])
        out: dict[str, Any] = {}
        for key, msgs in self.errors.items():
            *parents, leaf = key.split(".")
            node = out
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = list(msgs)
        return out


# ---- value parsers ---------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORD = re.compile(r"^[A-Za-z0-9._:,@/+-]+$")  # Slurm names, image references
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)(?:([kmg])b?|b)?$", re.IGNORECASE)  # what docker-py's parse_bytes reads
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DURATION = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")
SIZE_HINT = 'Must be a positive size: a number of bytes, or a number with k, m or g (e.g. "512m", "2g").'
DURATION_HINT = 'Must be a positive number of minutes or a Slurm duration ("MM:SS", "HH:MM:SS", "D-HH", "D-HH:MM:SS").'


def text(value: Any) -> str:
    """A non-empty one-line string (values end up in #SBATCH lines and Dockerfiles)."""
    if not isinstance(value, str):
        raise Invalid("Must be a string.")
    if _CONTROL.search(value):
        raise Invalid("Must be one line, without control characters.")
    return value


def word(value: Any) -> str:
    out = text(value)
    if not _WORD.match(out):
        raise Invalid("Must be a single word: no spaces or quotes.")
    return out


def absolute_path(value: Any) -> Path:
    out = text(value)
    if not PurePosixPath(out).is_absolute():
        raise Invalid("Must be an absolute path.")
    return Path(out)


_INT_MAX = 2**53  # far above any real limit; keeps arithmetic on the values exact


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise Invalid("Must be a whole number.")
    whole_float = isinstance(value, float) and value.is_integer()
    digits = isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 20
    if isinstance(value, int):
        out = value
    elif whole_float or digits:
        out = int(value)
    else:
        raise Invalid("Must be a whole number.")
    if abs(out) > _INT_MAX:
        raise Invalid("Must be a whole number below 2**53.")
    return out


def positive_int(value: Any) -> int:
    out = _integer(value)
    if out < 1:
        raise Invalid("Must be a whole number of at least 1.")
    return out


def count(value: Any) -> int:
    out = _integer(value)
    if out < 0:
        raise Invalid("Must be a whole number of at least 0.")
    return out


def positive_number(value: Any) -> float:
    if isinstance(value, bool):
        raise Invalid("Must be a positive number.")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise Invalid("Must be a positive number.") from None
    if not math.isfinite(out) or out <= 0:
        raise Invalid("Must be a positive number.")
    return out


def size(value: Any) -> int:
    """Bytes, from an integer or a docker-style size string ("2g", "512m", "1.5gb")."""
    if isinstance(value, bool):
        raise Invalid(SIZE_HINT)
    if isinstance(value, int):
        out = _integer(value)
    elif isinstance(value, str) and (match := _SIZE.match(value.strip())):
        number = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        if not number < _INT_MAX:
            raise Invalid(SIZE_HINT)
        out = int(number)
    else:
        raise Invalid(SIZE_HINT)
    if out < 1:
        raise Invalid(SIZE_HINT)
    return out


def duration_minutes(value: Any) -> int:
    """Minutes (rounded up), from minutes or any of sbatch's ``--time`` formats."""
    if isinstance(value, bool):
        raise Invalid(DURATION_HINT)
    if isinstance(value, int):
        minutes = _integer(value)
    elif isinstance(value, str) and len(value) < 40 and (match := _DURATION.match(value.strip())):
        days, first, second, third = (int(g) if g is not None else None for g in match.groups())
        assert first is not None
        if days is not None:  # D-H, D-H:M, D-H:M:S
            seconds = ((days * 24 + first) * 60 + (second or 0)) * 60 + (third or 0)
            tail = [second, third]
        elif third is not None:  # H:M:S
            seconds, tail = (first * 60 + (second or 0)) * 60 + third, [second, third]
        else:  # M or M:S
            seconds, tail = first * 60 + (second or 0), [second]
        if any(part is not None and part >= 60 for part in tail):
            raise Invalid(DURATION_HINT)
        minutes = -(-seconds // 60)
    else:
        raise Invalid(DURATION_HINT)
    if minutes < 1:
        raise Invalid(DURATION_HINT)
    return minutes


def url(value: Any, schemes: tuple[str, ...] = ("http", "https")) -> str:
    out = text(value)
    try:
        parts = urlsplit(out)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise Invalid("Must be a URL with a valid port.") from None
    if parts.scheme not in schemes or not parts.hostname or " " in out:
        raise Invalid(f"Must be a URL starting with {' or '.join(s + '://' for s in schemes)} and naming a host.")
    return out


def docker_url(value: Any) -> str:
    """An engine address the docker SDK can open: unix://, tcp://, http(s)://, ssh://."""
    out = text(value)
    hint = "Must be a Docker Engine address: unix:///path/to/docker.sock, tcp://host:2376 or ssh://user@host."
    parts = urlsplit(out)
    if parts.scheme == "unix":
        if parts.netloc or not PurePosixPath(parts.path).is_absolute():
            raise Invalid("A unix:// address needs an absolute socket path, e.g. unix:///var/run/docker.sock.")
        return out
    if parts.scheme in ("tcp", "http", "https", "ssh"):
        return url(out, (parts.scheme,))
    raise Invalid(hint)


def gpu_request(value: Any) -> int | Literal["all"]:
    if value == "all":
        return "all"
    try:
        return count(value)
    except Invalid:
        raise Invalid('Must be a number of GPUs or "all".') from None


T = TypeVar("T")


def list_of(item: Callable[[Any], T]) -> Callable[[Any], tuple[T, ...]]:
    def parse(value: Any) -> tuple[T, ...]:
        if not isinstance(value, list):
            raise Invalid("Must be a list.")
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item(element))
            except Invalid as exc:
                raise Invalid(f"Item {index}: {exc}") from None
        return tuple(out)

    return parse


def index_url(value: Any) -> str:
    return url(value, ("http", "https", "file"))


def pem_or_path(value: Any) -> str:
    if isinstance(value, str) and "-----BEGIN" in value:
        return value  # PEM text spans lines
    return str(absolute_path(value))


def sbatch_arg(value: Any) -> str:
    out = text(value)
    if not out.startswith("-"):
        raise Invalid('Must be an sbatch option starting with "-" (one option per item, e.g. "--exclusive").')
    return out


def env_vars(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid("Must be an object of variable names to values.")
    out = {}
    for name, item in value.items():
        if not _ENV_NAME.match(str(name)):
            raise Invalid("Variable names are letters, digits and '_', not starting with a digit.")
        if isinstance(item, (dict, list)) or item is None:
            raise Invalid(f"The value of {name} must be a string or a number.")
        out[str(name)] = str(item).lower() if isinstance(item, bool) else str(item)
    return out


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("Must be true or false.")
    return value


def _p(parse: Callable[[Any], Any]) -> dict[str, Any]:
    """A config field's metadata: the parser of its raw JSON value."""
    return {"parse": parse}


# ---- the configs ----------------------------------------------------------------------
@dataclass(frozen=True)
class LocalConfig:
    """``local``: processes on the worker's own host."""

    # Bytes per launcher: a memory cgroup of its own where one can be made, else RLIMIT_AS.
    memory: int | None = field(default=None, metadata=_p(size))


@dataclass(frozen=True)
class TlsConfig:
    """``docker.tls``: paths on the worker host; ``verify`` checks the engine's certificate."""

    ca_cert: Path | None = field(default=None, metadata=_p(absolute_path))
    client_cert: Path | None = field(default=None, metadata=_p(absolute_path))
    client_key: Path | None = field(default=None, metadata=_p(absolute_path))
    verify: bool | None = field(default=None, metadata=_p(boolean))  # None: verify when ca_cert is given

    def check(self) -> dict[str, list[str]]:
        if bool(self.client_cert) != bool(self.client_key):
            missing = "client_key" if self.client_cert else "client_cert"
            return {missing: ["client_cert and client_key go together."]}
        return {}


@dataclass(frozen=True)
class DockerConfig:
    """``docker``: environments become images and runs containers on a Docker Engine API host."""

    base_url: str = field(default=DEFAULT_DOCKER_URL, metadata=_p(docker_url))
    tls: TlsConfig | None = field(default=None, metadata={"nested": TlsConfig})
    api_timeout: int = field(default=300, metadata=_p(positive_int))  # seconds per engine API call
    public_url: str | None = field(default=None, metadata=_p(url))  # how containers reach the Runyard API
    shm_size: int | None = field(default=None, metadata=_p(size))  # bytes of /dev/shm per container
    cpus: float | None = field(default=None, metadata=_p(positive_number))  # per container
    memory: int | None = field(default=None, metadata=_p(size))  # bytes per container
    gpus: int | Literal["all"] = field(default=0, metadata=_p(gpu_request))
    base_image: str | None = field(default=None, metadata=_p(word))  # FROM of images whose environment names none
    extra_ca_certs: tuple[str, ...] = field(
        default=(), metadata=_p(list_of(pem_or_path))
    )  # trusted during image builds
    pip_index_url: str | None = field(default=None, metadata=_p(index_url))
    pip_extra_index_urls: tuple[str, ...] = field(default=(), metadata=_p(list_of(index_url)))
    pip_wheel_dirs: tuple[Path, ...] = field(
        default=(), metadata=_p(list_of(absolute_path))
    )  # worker-host folders of wheels


@dataclass(frozen=True)
class SlurmConfig:
    """``slurm``: jobs submitted with sbatch from the worker's host (a login node)."""

    shared_dir: Path = field(metadata=_p(absolute_path))  # seen by every node: environments, run dirs, the SDK
    slurm_conf: Path | None = field(default=None, metadata=_p(absolute_path))  # SLURM_CONF, when not the default
    partition: str | None = field(default=None, metadata=_p(word))
    account: str | None = field(default=None, metadata=_p(word))
    qos: str | None = field(default=None, metadata=_p(word))
    time_limit: int | None = field(default=None, metadata=_p(duration_minutes))  # minutes
    gpus_per_node: int = field(default=0, metadata=_p(count))
    cpus_per_task: int | None = field(default=None, metadata=_p(positive_int))
    mem_per_task_mb: int | None = field(default=None, metadata=_p(positive_int))
    extra_sbatch_args: tuple[str, ...] = field(default=(), metadata=_p(list_of(sbatch_arg)))
    env: dict[str, str] = field(default_factory=dict, metadata=_p(env_vars))  # variables for every job
    mpi: str = field(default="pmix", metadata=_p(word))  # srun's --mpi plugin
    poll_seconds: float = field(default=1.0, metadata=_p(positive_number))  # how often squeue is read

    def sbatch_options(self) -> list[str]:
        """The target's own sbatch options (the run adds its shape and time limit)."""
        opts = [
            f"--{flag}={value}"
            for flag, value in (("partition", self.partition), ("account", self.account), ("qos", self.qos))
            if value
        ]
        if self.gpus_per_node:
            opts.append(f"--gres=gpu:{self.gpus_per_node}")
        if self.cpus_per_task:
            opts.append(f"--cpus-per-task={self.cpus_per_task}")
        if self.mem_per_task_mb:
            opts.append(f"--mem-per-cpu={-(-self.mem_per_task_mb // (self.cpus_per_task or 1))}M")
        return opts + list(self.extra_sbatch_args)


TargetConfig = LocalConfig | DockerConfig | SlurmConfig
CONFIGS: dict[str, type[LocalConfig] | type[DockerConfig] | type[SlurmConfig]] = {
    "local": LocalConfig,
    "docker": DockerConfig,
    "slurm": SlurmConfig,
}


def _build(
    cls: type[T], raw: Mapping[str, Any], prefix: str, errors: dict[str, list[str]], warnings: list[str]
) -> T | None:
    """``cls`` from ``raw``, or None with every problem added to ``errors``."""
    known = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    for key in sorted(raw, key=str):  # sorted: PostgreSQL's jsonb does not keep the order given
        if key not in known:
            guess = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            warnings.append(f"config.{prefix}{key} is not a known key{hint}.")
    values: dict[str, Any] = {}
    mine: dict[str, list[str]] = {}
    for spec in fields(cls):  # type: ignore[arg-type]
        path, value = prefix + spec.name, raw.get(spec.name)
        if value is None or value == "":
            if spec.default is MISSING and spec.default_factory is MISSING:
                mine.setdefault(path, []).append("This key is required.")
            continue
        try:
            nested = spec.metadata.get("nested")
            if nested is None:
                values[spec.name] = spec.metadata["parse"](value)
            elif not isinstance(value, dict):
                raise Invalid("Must be an object.")
            elif (inner := _build(nested, value, f"{path}.", mine, warnings)) is not None:
                values[spec.name] = inner
                for key, msgs in inner.check().items():
                    mine.setdefault(f"{path}.{key}", []).extend(msgs)
        except Invalid as exc:
            mine.setdefault(path, []).append(str(exc))
    errors.update(mine)
    return None if mine else cls(**values)


def parse(kind: str, raw: Any) -> tuple[TargetConfig, list[str]]:
    """The kind's typed config and warnings about unknown keys; ``ConfigError`` if invalid."""
    if kind not in CONFIGS:
        raise ConfigError({"": [f"Unknown compute kind {kind!r}."]})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError({"": ["Must be an object."]})
    errors: dict[str, list[str]] = {}
    warnings: list[str] = []
    config = _build(CONFIGS[kind], raw, "", errors, warnings)
    if config is None:
        raise ConfigError(errors)
    return config, warnings
