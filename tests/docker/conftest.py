"""A private Podman engine speaking the Docker Engine API, the Runyard base image in
it, a worker serving the ``compute.docker`` queue, and a ``docker`` compute target
pointing at the engine (per test: the database is flushed between tests)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compute.models import ComputeTarget
from tests.conftest import Stack

WHEEL_DIR = Path("/opt/wheels")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: no container engine to test the docker compute kind against")
    from tests.infra.podman_engine import ensure_base_image, start_engine

    state_dir = Path(tempfile.mkdtemp(prefix="ry-podman-", dir="/tmp"))
    engine = start_engine(state_dir)
    try:
        ensure_base_image(engine)  # the rootfs tarball is cached in ~/.cache/runyard/base-image
        yield engine
    finally:
        engine.stop()  # by the pid it recorded
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_worker(live_stack: Stack, docker_engine: Any) -> Iterator[None]:
    live_stack.start_worker("docker", queues="compute.docker", concurrency=4)
    yield
    if "docker" in live_stack.procs:
        live_stack.stop("docker")


@pytest.fixture
def docker_client(docker_engine: Any) -> Iterator[Any]:
    client = docker_engine.client()
    yield client
    client.close()


@pytest.fixture
def docker_target(live: Stack, world: Any, docker_engine: Any, docker_worker: None) -> ComputeTarget:
    from tests.infra.podman_engine import host_ca_files

    port = live.url.rsplit(":", 1)[1]
    return ComputeTarget.objects.create(
        name="docker",
        kind="docker",
        max_nodes=2,
        max_processes_per_node=4,
        max_concurrent_runs=4,
        config={
            "base_url": docker_engine.base_url,
            # slirp4netns's host-loopback address; the test engine disables host loopback,
            # so scripts here do not call the API (see README: docker).
            "public_url": f"http://10.0.2.2:{port}",
            "shm_size": "256m",
            "extra_ca_certs": [str(p) for p in host_ca_files()],
            "pip_wheel_dirs": [str(WHEEL_DIR)],
        },
    )
