"""The private Podman engine (tests/infra/podman_engine.py) against the docker SDK.

The first run on a machine builds the base rootfs with mmdebstrap (~80 s, cached in
~/.cache/runyard/base-image/); later runs only import it (~12 s)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.podman_engine import BASE_TAG, Engine, ensure_base_image, running_engine, start_engine

pytestmark = [
    pytest.mark.docker,
    pytest.mark.skipif(
        shutil.which("podman") is None or shutil.which("slirp4netns") is None,
        reason="podman/slirp4netns not installed (scripts/install-system-deps.sh containers)",
    ),
]


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = start_engine(tmp_path_factory.mktemp("podman-engine"))
    try:
        yield eng
    finally:
        eng.stop()
        shutil.rmtree(eng.state_dir, ignore_errors=True)  # ~0.5 GB of image layers


@pytest.fixture(scope="session")
def base_image(engine: Engine) -> str:
    return ensure_base_image(engine)


def test_start_is_idempotent(engine: Engine) -> None:
    again = start_engine(engine.state_dir)
    assert again.pid == engine.pid
    assert running_engine(engine.state_dir) is not None
    assert engine.client().version()["Version"]


def test_container_output_and_exit_code(engine: Engine, base_image: str) -> None:
    assert base_image == BASE_TAG
    client = engine.client()
    container = client.containers.run(
        base_image,
        ["sh", "-c", "python3 -c \"import sys; print('hello from', sys.version_info[:2])\"; echo oops >&2; exit 3"],
        detach=True,
    )
    try:
        assert container.wait(timeout=120)["StatusCode"] == 3
        assert container.logs(stdout=True, stderr=False) == b"hello from (3, 11)\n"
        assert container.logs(stdout=False, stderr=True) == b"oops\n"
    finally:
        container.remove(force=True)
    out = client.containers.run(base_image, ["python3", "-c", "print(6 * 7)"], remove=True)
    assert out == b"42\n"


def test_stop_ends_everything(tmp_path: Path) -> None:
    eng = start_engine(tmp_path / "engine")
    pids = [eng.pid, eng.slirp_pid]
    eng.stop()
    eng.stop()  # idempotent
    assert not eng.socket_path.exists()
    assert running_engine(eng.state_dir) is None
    for pid in pids:
        assert pid is not None
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
