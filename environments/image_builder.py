"""Container-image builds of environments through the Docker Engine API.

The image builder follows the venv builder's algorithm (``environments.builder``):
find-or-create the EnvironmentBuild row (kind ``image``, location = the engine's URL,
path = the image tag); an image with the tag already in the engine is a cache hit;
else take an exclusive file lock on the worker host, look again, and build. The build
log is streamed into the build's BuildLog (and mirrored into the run's log); a failed
build raises ``BuildFailed`` with the log's tail.

What is built (``dockerfile_for``): the environment's Dockerfile, or ``FROM`` its base
image (default: the target's ``base_image``), then the target's extra CA certificates,
then a virtualenv at /opt/runyard/venv with the pip requirements installed from the
target's indexes plus wheels copied from ``pip_wheel_dirs`` (``--find-links``), and
Open MPI when the image is for MPI runs. Environment variables are not baked in: they
are not part of the content hash, so they are applied when containers start.
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from environments.builder import BuildCanceled, BuildFailed, BuildLog, build_lock
from environments.models import BuildLogLine, EnvironmentBuild, EnvironmentVersion
from environments.spec import pip_requirements_of

DEFAULT_BASE_IMAGE = "runyard/base:py311"
IMAGE_REPOSITORY = "runyard-env"
VENV = "/opt/runyard/venv"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class BuiltImage:
    build: EnvironmentBuild
    tag: str
    cache_hit: bool


def image_tag(content_hash: str, mpi: bool = False) -> str:
    return f"{IMAGE_REPOSITORY}:{content_hash[:32]}{'-mpi' if mpi else ''}"


def build_location(config: dict[str, Any], mpi: bool = False) -> str:
    # The MPI variant of an image is a separate build of the same content hash.
    return str(config.get("base_url") or "unix:///var/run/docker.sock") + (" (mpi)" if mpi else "")


def image_build_row(content_hash: str, location: str) -> EnvironmentBuild:
    for _ in range(3):
        row = EnvironmentBuild.objects.filter(kind="image", location=location, content_hash=content_hash).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                return EnvironmentBuild.objects.create(kind="image", location=location, content_hash=content_hash)
        except IntegrityError:
            continue
    raise RuntimeError("could not create the build record")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {_normalized(m.group(1)) for r in requirements if (m := _NAME.match(r))}


def matching_wheels(wheel_dirs: list[str], requirements: list[str]) -> list[Path]:
    """Wheels in ``wheel_dirs`` whose distribution name a requirement names."""
    wanted = requirement_names(requirements)
    found = []
    for folder in wheel_dirs:
        for wheel in sorted(Path(folder).glob("*.whl")):
            if _normalized(wheel.name.split("-", 1)[0]) in wanted:
                found.append(wheel)
    return found


def ca_certificates(config: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(file name, PEM bytes) of ``extra_ca_certs``: paths on the worker host or PEM text."""
    out = []
    for index, item in enumerate(config.get("extra_ca_certs") or []):
        text = str(item)
        data = text.encode() if "-----BEGIN" in text else Path(text).read_bytes()
        out.append((f"runyard-extra-{index}.crt", data))
    return out


def dockerfile_for(spec: dict[str, Any], config: dict[str, Any], *, mpi: bool, cas: int, wheels: bool) -> str:
    requirements = pip_requirements_of(spec)
    if spec.get("dockerfile"):
        lines = [spec["dockerfile"].rstrip(), "USER root"]
    else:
        lines = [f"FROM {spec.get('docker_base_image') or config.get('base_image') or DEFAULT_BASE_IMAGE}"]
    if cas:
        # Trusted before anything is downloaded, so pip and apt work behind an intercepting proxy.
        lines += [
            "COPY runyard-ca/ /usr/local/share/ca-certificates/runyard/",
            "RUN (update-ca-certificates || cat /usr/local/share/ca-certificates/runyard/*.crt"
            " >> /etc/ssl/certs/ca-certificates.crt) && echo 'CA certificates added'",
        ]
    if mpi:
        lines.append(
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends"
            " openmpi-bin libopenmpi-dev gcc python3-dev && rm -rf /var/lib/apt/lists/*"
        )
    if requirements:
        index = []
        if config.get("pip_index_url"):
            index += ["--index-url", config["pip_index_url"]]
        for url in config.get("pip_extra_index_urls") or []:
            index += ["--extra-index-url", url]
        if wheels:
            lines.append("COPY runyard-wheels/ /tmp/runyard-wheels/")
            index += ["--find-links", "/tmp/runyard-wheels"]
        lines += [
            "COPY runyard-requirements.txt /tmp/runyard-requirements.txt",
            f"RUN python3 -m venv {VENV} && {VENV}/bin/pip install --no-cache-dir --disable-pip-version-check "
            f"{' '.join(index)} -r /tmp/runyard-requirements.txt".replace("  ", " "),
            f"ENV PATH={VENV}/bin:$PATH VIRTUAL_ENV={VENV}",
        ]
        if wheels:
            lines.append("RUN rm -rf /tmp/runyard-wheels")
    return "\n".join(lines) + "\n"


def _context(version: EnvironmentVersion, config: dict[str, Any], mpi: bool) -> tuple[Any, str]:
    """A tar build context in a temporary file (wheels may be hundreds of MB)."""
    requirements = pip_requirements_of(version.spec)
    wheels = matching_wheels(list(config.get("pip_wheel_dirs") or []), requirements)
    cas = ca_certificates(config)
    dockerfile = dockerfile_for(version.spec, config, mpi=mpi, cas=len(cas), wheels=bool(wheels))
    fileobj = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller, who closes it
    with tarfile.open(fileobj=fileobj, mode="w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add("Dockerfile", dockerfile.encode())
        add("runyard-requirements.txt", ("\n".join(requirements) + "\n").encode())
        for name, data in cas:
            add(f"runyard-ca/{name}", data)
        for wheel in wheels:
            tar.add(str(wheel), arcname=f"runyard-wheels/{wheel.name}")
    fileobj.seek(0)
    return fileobj, dockerfile


def image_exists(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure_image(
    version: EnvironmentVersion,
    client: Any,
    config: dict[str, Any],
    *,
    mpi: bool = False,
    log: Callable[[str], None] | None = None,
    canceled: Callable[[], bool] = lambda: False,
    lock_dir: Path,
) -> BuiltImage:
    """Return the engine's image for ``version``, building it if the engine lacks it."""
    tag = image_tag(version.content_hash, mpi)
    row = image_build_row(version.content_hash, build_location(config, mpi))
    if image_exists(client, tag):
        _adopt(row, tag)
        return BuiltImage(row, tag, cache_hit=True)
    say = log or (lambda _text: None)
    lock_dir.mkdir(parents=True, exist_ok=True)
    with build_lock(lock_dir / f"image-{tag.split(':')[1]}.lock", f"image {tag}", say, canceled):
        if image_exists(client, tag):
            _adopt(row, tag)
            say(f"Image {tag} was built meanwhile; reusing it.")
            return BuiltImage(row, tag, cache_hit=True)
        return _build(version, client, config, row, tag, mpi, say, canceled)


def _adopt(row: EnvironmentBuild, tag: str) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {"last_used_at": now}
    if row.status != EnvironmentBuild.Status.SUCCEEDED or row.path != tag:
        fields.update(status=EnvironmentBuild.Status.SUCCEEDED, path=tag, finished_at=now)
    EnvironmentBuild.objects.filter(pk=row.pk).update(**fields)
    row.refresh_from_db()


def _stream_build(client: Any, fileobj: Any, tag: str, version: EnvironmentVersion) -> Iterator[dict[str, Any]]:
    return iter(
        client.api.build(
            fileobj=fileobj,
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            decode=True,
            labels={"io.runyard.content-hash": version.content_hash},
        )
    )


def _build(
    version: EnvironmentVersion,
    client: Any,
    config: dict[str, Any],
    row: EnvironmentBuild,
    tag: str,
    mpi: bool,
    say: Callable[[str], None],
    canceled: Callable[[], bool],
) -> BuiltImage:
    EnvironmentBuild.objects.filter(pk=row.pk).update(
        status=EnvironmentBuild.Status.BUILDING, started_at=timezone.now(), finished_at=None, error="", log_seq=0
    )
    BuildLogLine.objects.filter(build=row).delete()
    row.refresh_from_db()
    buildlog = BuildLog(row, say)
    started = time.monotonic()
    try:
        fileobj, dockerfile = _context(version, config, mpi)
        with fileobj:
            buildlog(f"Building image {tag} for environment {version.content_hash[:12]}:")
            for line in dockerfile.splitlines():
                buildlog(f"  {line}")
            pending = ""
            for chunk in _stream_build(client, fileobj, tag, version):
                if canceled():
                    # The Engine API has no build cancel: stop reading; the engine finishes or drops it.
                    raise BuildCanceled()
                if chunk.get("error"):
                    if pending:
                        buildlog(pending)
                    raise BuildFailed(f"the image build failed: {chunk['error'].strip()}", "")
                pending += str(chunk.get("stream") or chunk.get("status") or "")
                *complete, pending = pending.split("\n")
                for text in complete:
                    buildlog(text.rstrip("\r"))
            if pending:
                buildlog(pending)
        if not image_exists(client, tag):
            raise BuildFailed(f"the engine reported no error but has no image {tag}", "")
        buildlog(f"Image {tag} ready in {time.monotonic() - started:.1f}s.")
        now = timezone.now()
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.SUCCEEDED, path=tag, finished_at=now, last_used_at=now
        )
        row.refresh_from_db()
        return BuiltImage(row, tag, cache_hit=False)
    except BuildCanceled:
        buildlog("Build canceled.")
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.FAILED, error="canceled", finished_at=timezone.now()
        )
        raise
    except BuildFailed as exc:
        tail = buildlog.tail()
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.FAILED, error=f"{exc}\n{tail}", finished_at=timezone.now()
        )
        raise BuildFailed(str(exc), tail) from None
    except Exception as exc:  # engine unreachable, bad Dockerfile path, …: a failed build too
        tail = buildlog.tail()
        EnvironmentBuild.objects.filter(pk=row.pk).update(
            status=EnvironmentBuild.Status.FAILED, error=f"{exc}\n{tail}", finished_at=timezone.now()
        )
        raise BuildFailed(f"the image build failed: {exc}", tail) from None
    finally:
        buildlog.close()
