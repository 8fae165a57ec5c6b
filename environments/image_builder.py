"""Container-image builds through the Docker Engine API: the Docker steps of the one
build lifecycle (``environments.builds``).

An image build's row has kind ``image``, location = the engine's URL (the MPI variant
is a separate build) and path = the image tag; an image with the tag already in the
engine is a finished build. The lock is a file on the worker host.

What is built (``dockerfile_for``): the environment's Dockerfile, or ``FROM`` its base
image (default: the target's ``base_image``), then the target's extra CA certificates,
then a virtualenv at /opt/runyard/venv with the pip requirements installed from the
build's indexes (``image_sources``) plus wheels copied from ``pip_wheel_dirs`` and the
host's local find-links folders (``--find-links``), and Open MPI when the image is for
MPI runs. Environment variables are not baked in: they
are not part of the content hash, so they are applied when containers start.
"""

from __future__ import annotations

import io
import re
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compute.configs import DockerConfig
from environments import indexes
from environments.builds import BuildCanceled, Builder, BuildFailed, Canceled, Say, ensure
from environments.conda import build_notes
from environments.models import EnvironmentBuild, EnvironmentVersion
from environments.spec import pip_requirements_of
from execution.lines import LineReader

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


def build_location(config: DockerConfig, mpi: bool = False) -> str:
    # The MPI variant of an image is a separate build of the same content hash.
    return config.base_url + (" (mpi)" if mpi else "")


def image_build_row(content_hash: str, location: str) -> EnvironmentBuild:
    return EnvironmentBuild.for_content(EnvironmentBuild.Kind.IMAGE, location, content_hash)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {_normalized(m.group(1)) for r in requirements if (m := _NAME.match(r))}


def matching_wheels(wheel_dirs: Sequence[Path], requirements: list[str]) -> list[Path]:
    """Wheels in ``wheel_dirs`` whose distribution name a requirement names."""
    wanted = requirement_names(requirements)
    found = []
    for folder in wheel_dirs:
        for wheel in sorted(folder.glob("*.whl")):
            if _normalized(wheel.name.split("-", 1)[0]) in wanted:
                found.append(wheel)
    return found


@dataclass(frozen=True)
class ImageSources:
    """Where pip inside an image build looks for packages."""

    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    wheel_dirs: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()  # said in the build log

    def pip_args(self) -> list[str]:
        args = ["--index-url", self.index_url] if self.index_url else []
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for host in self.trusted_hosts:
            args += ["--trusted-host", host]
        return args


def image_sources(
    spec: dict[str, Any], config: DockerConfig, say: Say, host: indexes.HostSettings | None = None
) -> ImageSources:
    """The spec's allowed indexes, then the target's ``pip_index_url`` /
    ``pip_extra_index_urls`` where set, else the host's pip configuration (its
    ``file://`` indexes left out: a build cannot reach them; its local find-links
    folders join ``pip_wheel_dirs``). An allowed index with credentials is refused:
    they would be kept in the image's layers."""
    try:
        sources = indexes.sources_for(spec, host if host is not None else indexes.host_settings())
    except indexes.IndexUnavailable as exc:
        raise BuildFailed(str(exc), "") from None
    secret = [i.name for i in sources.indexes if i.name and (i.username or i.password)]
    if secret:
        raise BuildFailed(
            f"package index {', '.join(secret)} has credentials, which an image build would keep in the image's "
            "layers: copy its wheels into the target's pip_wheel_dirs, or use an index without credentials",
            "",
        )
    sources = indexes.without_unreachable(sources, say)
    default = sources.default.url if sources.default and sources.default.name else ""
    if not default:
        default = config.pip_index_url or (sources.default.url if sources.default else "")
    extras = [i.url for i in sources.extras if i.name]
    if config.pip_extra_index_urls:
        extras += list(config.pip_extra_index_urls)
    else:
        extras += [i.url for i in sources.extras if not i.name]
    local = [u for u in [default, *extras] if u.startswith("file:")]
    notes = [f"Left out of the image build (not reachable inside it): {u}" for u in local]
    wheel_dirs = list(config.pip_wheel_dirs)
    for link in sources.find_links:
        folder = indexes.local_path(link)
        if folder is not None and folder.is_dir() and folder not in wheel_dirs:
            wheel_dirs.append(folder)
    return ImageSources(
        index_url="" if default.startswith("file:") else default,
        extra_index_urls=tuple(dict.fromkeys(u for u in extras if not u.startswith("file:"))),
        trusted_hosts=sources.trusted_hosts,
        wheel_dirs=tuple(wheel_dirs),
        notes=tuple(notes),
    )


def ca_certificates(config: DockerConfig) -> list[tuple[str, bytes]]:
    """(file name, PEM bytes) of ``extra_ca_certs``: paths on the worker host or PEM text."""
    out = []
    for index, text in enumerate(config.extra_ca_certs):
        data = text.encode() if "-----BEGIN" in text else Path(text).read_bytes()
        out.append((f"runyard-extra-{index}.crt", data))
    return out


def dockerfile_for(
    spec: dict[str, Any],
    config: DockerConfig,
    *,
    mpi: bool,
    cas: int,
    wheels: bool,
    sources: ImageSources | None = None,
) -> str:
    requirements = pip_requirements_of(spec)
    if spec.get("dockerfile"):
        lines = [spec["dockerfile"].rstrip(), "USER root"]
    else:
        lines = [f"FROM {spec.get('docker_base_image') or config.base_image or DEFAULT_BASE_IMAGE}"]
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
        if sources is None:
            sources = ImageSources(config.pip_index_url or "", config.pip_extra_index_urls)
        index = sources.pip_args()
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


def _context(version: EnvironmentVersion, config: DockerConfig, mpi: bool, say: Say) -> tuple[Any, str]:
    """A tar build context in a temporary file (wheels may be hundreds of MB)."""
    requirements = pip_requirements_of(version.spec)
    sources = image_sources(version.spec, config, say) if requirements else ImageSources()
    for note in sources.notes:
        say(note)
    wheels = matching_wheels(sources.wheel_dirs, requirements)
    cas = ca_certificates(config)
    dockerfile = dockerfile_for(version.spec, config, mpi=mpi, cas=len(cas), wheels=bool(wheels), sources=sources)
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
    config: DockerConfig,
    *,
    mpi: bool = False,
    log: Say | None = None,
    canceled: Canceled = lambda: False,
    lock_dir: Path,
) -> BuiltImage:
    """Return the engine's image for ``version``, building it if the engine lacks it."""
    builder = ImageBuilder(version, client, config, mpi, lock_dir)
    ensured = ensure(builder, log=log, canceled=canceled)
    return BuiltImage(ensured.build, builder.tag, ensured.cache_hit)


@dataclass(frozen=True)
class ImageBuilder(Builder):
    version: EnvironmentVersion
    client: Any
    config: DockerConfig
    mpi: bool
    lock_dir: Path

    kind = EnvironmentBuild.Kind.IMAGE
    failure = "the image build failed"

    @property
    def content_hash(self) -> str:
        return self.version.content_hash

    @property
    def tag(self) -> str:
        return image_tag(self.content_hash, self.mpi)

    @property
    def location(self) -> str:
        return build_location(self.config, self.mpi)

    @property
    def artifact(self) -> str:
        return self.tag

    @property
    def lock_path(self) -> Path:
        return self.lock_dir / f"image-{self.tag.split(':')[1]}.lock"

    @property
    def what(self) -> str:
        return f"image {self.tag}"

    def ready(self) -> bool:
        return image_exists(self.client, self.tag)

    def ready_message(self, seconds: float) -> str:
        return f"Image {self.tag} ready in {seconds:.1f}s."

    def build(self, say: Say, canceled: Canceled) -> None:
        version, tag = self.version, self.tag
        fileobj, dockerfile = _context(version, self.config, self.mpi, say)
        with fileobj:
            for line in build_notes(version.spec):  # a conda specification's translation
                say(line)
            say(f"Building image {tag} for environment {version.content_hash[:12]}:")
            for line in dockerfile.splitlines():
                say(f"  {line}")
            _stream_build(self.client, fileobj, tag, version, say, canceled)
        if not self.ready():
            raise BuildFailed(f"the engine reported no error but has no image {tag}", "")


def _stream_build(
    client: Any, fileobj: Any, tag: str, version: EnvironmentVersion, say: Say, canceled: Canceled
) -> None:
    """Send the context to the engine and stream the build's output, line by line."""
    chunks = client.api.build(
        fileobj=fileobj,
        custom_context=True,
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
        labels={"io.runyard.content-hash": version.content_hash},
    )
    reader = LineReader()
    for chunk in chunks:
        if canceled():
            # The Engine API has no build cancel: stop reading; the engine finishes or drops it.
            raise BuildCanceled()
        if chunk.get("error"):
            for text in reader.flush():
                say(text)
            raise BuildFailed(f"the image build failed: {chunk['error'].strip()}", "")
        for text in reader.feed_text(str(chunk.get("stream") or chunk.get("status") or "")):
            say(text)
    for text in reader.flush():
        say(text)
