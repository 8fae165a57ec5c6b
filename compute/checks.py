""" "Test connection" for a compute target: can this host reach what the target names?

Each check is bounded in time and never raises: a refused port, a missing binary or a
bad certificate is a failed check with a one-line reason, not an error. The checks run
where they are called (the web server for the API): a worker on another host may see
otherwise, which is why a check's detail says what it tried.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compute import configs

TIMEOUT_SECONDS = 10  # per engine call or command
_DETAIL_MAX = 500


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Result:
    ok: bool
    checks: tuple[Check, ...]


def test_connection(target: Any) -> Result:
    """Run the checks of ``target``'s kind; the first failing prerequisite stops the rest."""
    try:
        config, warnings = configs.parse(target.kind, target.config)
    except configs.ConfigError as exc:
        return _result([Check("config", False, "; ".join(exc.messages()))])
    checks = [Check("config", True, "valid" + (f" ({'; '.join(warnings)})" if warnings else ""))]
    runner = {"local": _local, "docker": _docker, "slurm": _slurm}[target.kind]
    runner(config, checks)  # type: ignore[operator]
    return _result(checks)


def _result(checks: list[Check]) -> Result:
    return Result(ok=all(c.ok for c in checks), checks=tuple(checks))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def _attempt(checks: list[Check], name: str, step: Callable[[], str]) -> bool:
    """Record ``step``'s detail as a passed check, or its exception as a failed one."""
    try:
        checks.append(Check(name, True, _clip(step())))
        return True
    except Exception as exc:
        checks.append(Check(name, False, _clip(reason(exc))))
        return False


def reason(exc: BaseException) -> str:
    """The underlying cause of a connection failure, without urllib3's wrapping."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if current in seen:
            continue
        seen.append(current)
        pending += [c for c in (current.__cause__, current.__context__) if c is not None]
        pending += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        reason_ = getattr(current, "reason", None)
        if isinstance(reason_, BaseException):
            pending.append(reason_)
    for cause in seen:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        if isinstance(cause, FileNotFoundError):
            return "no such socket or file" + (f": {cause.filename}" if cause.filename else "")
        if isinstance(cause, PermissionError):
            return "permission denied" + (f": {cause.filename}" if cause.filename else "")
        if isinstance(cause, (TimeoutError, socket.timeout)):
            return f"no answer within {TIMEOUT_SECONDS}s"
        if isinstance(cause, socket.gaierror):
            return f"the host name does not resolve ({cause.strerror})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed: {cause.reason or cause}"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


# ---- local ----------------------------------------------------------------------------
def _local(config: configs.LocalConfig, checks: list[Check]) -> None:
    def bwrap() -> str:
        found = shutil.which("bwrap")
        if not found:
            raise RuntimeError("bubblewrap (bwrap) is not on PATH: apt-get install bubblewrap")
        return f"bubblewrap at {found}"

    def uv() -> str:
        from environments.builder import uv_binary

        binary = uv_binary()
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        return f"{out.stdout.strip() or 'uv'} at {binary}"

    _attempt(checks, "sandbox", bwrap)
    _attempt(checks, "uv", uv)


# ---- docker ---------------------------------------------------------------------------
def _docker(config: configs.DockerConfig, checks: list[Check]) -> None:
    from execution.backends.docker import client_for  # the runs' own client

    client: Any = None

    def connect() -> str:
        nonlocal client
        tls = config.tls
        for key in ("ca_cert", "client_cert", "client_key"):
            path = getattr(tls, key) if tls is not None else None
            if path is not None and not path.is_file():
                raise RuntimeError(f"tls.{key} {path} is not a file on this host")
        client = client_for(config, min(config.api_timeout, TIMEOUT_SECONDS))
        if not client.ping():
            raise RuntimeError(f"{config.base_url} answered the ping with an error")
        return f"{config.base_url} answers"

    def version() -> str:
        info = client.version()
        names = [c.get("Name", "") for c in info.get("Components") or []]
        engine = next((n for n in names if "Engine" in n), "Docker Engine")
        return (
            f"{engine} {info.get('Version', '?')} (API {info.get('ApiVersion', '?')}) "
            f"on {info.get('Os', '?')}/{info.get('Arch', '?')}"
        )

    try:
        if _attempt(checks, "engine", connect):
            _attempt(checks, "version", version)
    finally:
        if client is not None:
            client.close()


# ---- slurm ----------------------------------------------------------------------------
def _command(args: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    if shutil.which(args[0], path=env.get("PATH")) is None:
        raise RuntimeError(f"{args[0]} is not installed on this host")
    try:
        out = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{args[0]} did not answer within {TIMEOUT_SECONDS}s") from None
    if out.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {out.stderr.strip() or out.stdout.strip() or out.returncode}")
    return (out.stdout.strip() + "\n" + out.stderr.strip()).strip()


def _slurm(config: configs.SlurmConfig, checks: list[Check]) -> None:
    from execution.backends.slurm import command_env  # what the runs' sbatch and squeue see

    env = command_env(config)

    def slurm_conf() -> str:
        path = config.slurm_conf
        if path is None:
            return "not set: Slurm's default configuration is used"
        if not path.is_file():
            raise RuntimeError(f"SLURM_CONF {path} does not exist on this host")
        return f"SLURM_CONF {path}"

    def shared_dir() -> str:
        if not config.shared_dir.is_dir():
            raise RuntimeError(f"shared_dir {config.shared_dir} is not a directory on this host")
        if not os.access(config.shared_dir, os.W_OK | os.X_OK):
            raise RuntimeError(f"shared_dir {config.shared_dir} is not writable by this host's user")
        return f"{config.shared_dir} is writable"

    def sinfo() -> str:
        args = ["sinfo", "-h", "-o", "%P %a %D %t"]
        if config.partition:
            args += ["-p", config.partition]
        out = _command(args, env)
        if not out:
            raise RuntimeError(f"sinfo lists no partition {config.partition or ''}".strip())
        return "; ".join(out.splitlines()[:5])

    def test_only() -> str:
        with tempfile.TemporaryDirectory(prefix="runyard-check-") as tmp:
            script = Path(tmp) / "check.sh"
            script.write_text("#!/bin/sh\ntrue\n")
            limit = [f"--time={config.time_limit}"] if config.time_limit else []
            args = ["sbatch", "--test-only", "--nodes=1", "--ntasks=1", "--output=/dev/null", *limit]
            return _command([*args, *config.sbatch_options(), str(script)], env, cwd=Path(tmp))

    _attempt(checks, "slurm_conf", slurm_conf)
    _attempt(checks, "shared_dir", shared_dir)
    if _attempt(checks, "sinfo", sinfo):
        _attempt(checks, "sbatch --test-only", test_only)
