"""execution.materialize without the live stack: download copies, read-only mounts, the
DataReference style, placeholder replacement and release()."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from datasets import mounts
from execution import materialize
from runs import inputs
from runs.models import Run, RunInput
from tests.datasets.helpers import create_dataset, folder, register
from tests.factories import make_run

needs_root = pytest.mark.skipif(not mounts.supported(), reason="read-only bind mounts need root on Linux")


def prepared_run(world: Any, arguments: list[Any]) -> Run:
    run = make_run(world.alice.user, world.team_a, arguments=arguments)
    inputs.attach(run, inputs.resolve(world.team_a, arguments))
    return run


@pytest.fixture
def mnist(world: Any) -> dict[str, Any]:
    ds = create_dataset(world.alice.client, "mnist")
    register(world.alice.client, ds["id"], files=folder({"train/a.csv": "1,2\n", "labels.txt": "cat\n"}))
    return register(world.alice.client, ds["id"], files=folder({"train/a.csv": "3,4\n", "labels.txt": "dog\n"}))


def materialized(run: Run, workdir: Path) -> tuple[list[str], dict[str, str], list[Any], list[str]]:
    said: list[str] = []
    workdir.mkdir(parents=True, exist_ok=True)
    args, paths, mounted = materialize.inputs(run, workdir, said.append)
    return args, paths, mounted, said


@needs_root
def test_mount_is_read_only_even_for_root_and_download_is_a_copy(world: Any, mnist: Any, tmp_path: Path) -> None:
    run = prepared_run(
        world,
        [
            "--train",
            {"dataset": "mnist", "name": "train"},
            "--copy",
            {"dataset": "mnist", "version": 1, "mode": "download", "name": "copy"},
            3,
        ],
    )
    workdir = tmp_path / "work" / str(run.pk)
    args, paths, mounted, said = materialized(run, workdir)
    train, copy = workdir / "inputs" / "train", workdir / "inputs" / "copy"
    assert args == ["--train", str(train), "--copy", str(copy), "3"]
    assert paths == {"train": str(train), "copy": str(copy)}
    assert (train / "labels.txt").read_text() == "dog\n" and (copy / "labels.txt").read_text() == "cat\n"
    assert os.geteuid() == 0
    for attempt in (
        lambda: (train / "labels.txt").write_text("hacked"),
        lambda: (train / "new.txt").write_text("x"),
        lambda: (train / "labels.txt").unlink(),
        lambda: os.chmod(train / "labels.txt", 0o666),
    ):
        with pytest.raises(OSError) as info:
            attempt()
        assert info.value.errno == errno.EROFS
    (copy / "labels.txt").write_text("mine now")  # downloads are the run's own copies
    assert [m[1] for m in mounted] == [train] and mounted[0][2] is True
    assert mounts.is_read_only(train)
    assert any("read-only bind mount" in line for line in said)
    recorded = dict(RunInput.objects.filter(run=run).values_list("name", "local_path"))
    assert recorded == {"train": str(train), "copy": str(copy)}
    assert materialize.release(run, workdir) == [train]
    assert mounts.mounts_under(workdir) == []
    assert materialize.release(run, workdir) == []  # idempotent
    version_tree = mounted[0][0]
    assert (version_tree / "labels.txt").read_text() == "dog\n"


@needs_root
def test_datareference_style_datastore_paths(world: Any, tmp_path: Path, settings: Any) -> None:
    from datasets.services import default_datastore

    # A team sees its own folder of the default datastore (datasets.services.team_folder).
    root = Path(default_datastore().root_path) / "teams" / world.team_a.slug
    (root / "refs" / "sub").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "sub" / "x.txt").write_text("ref")
    (root / "refs" / "single.txt").write_text("one")
    run = prepared_run(
        world,
        [
            {"datastore": "workspaceblobstore", "path": "refs/", "mode": "mount"},
            {"datastore": "workspaceblobstore", "path": "refs/sub", "mode": "download"},
            {"datastore": "workspaceblobstore", "path": "refs/single.txt", "name": "one"},
        ],
    )
    workdir = tmp_path / "work" / str(run.pk)
    args, paths, _, _ = materialized(run, workdir)
    assert set(paths) == {"workspaceblobstore_refs", "workspaceblobstore_refs_sub", "one"}
    assert Path(args[0], "sub", "x.txt").read_text() == "ref"
    assert Path(args[1], "x.txt").read_text() == "ref"
    assert args[2].endswith("inputs/one/single.txt") and Path(args[2]).read_text() == "one"
    with pytest.raises(OSError):
        Path(args[0], "sub", "x.txt").write_text("no")
    with pytest.raises(OSError):
        Path(args[2]).write_text("no")
    Path(args[1], "x.txt").write_text("my copy")
    assert (root / "refs" / "sub" / "x.txt").read_text() == "ref"
    materialize.release(run, workdir)
    assert mounts.mounts_under(workdir) == []


def test_without_bind_mounts_the_path_is_a_link_to_a_read_only_tree(
    world: Any, mnist: Any, tmp_path: Path, settings: Any
) -> None:
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_READONLY_MOUNTS": False}
    run = prepared_run(world, [{"dataset": "mnist"}])
    workdir = tmp_path / "work" / str(run.pk)
    args, _, mounted, said = materialized(run, workdir)
    link = workdir / "inputs" / "mnist"
    assert args == [str(link)] and link.is_symlink()
    assert (link / "labels.txt").read_text() == "dog\n"
    assert oct((link / "labels.txt").stat().st_mode & 0o777) == oct(0o444)
    assert oct(Path(link, "train").stat().st_mode & 0o777) == oct(0o555)
    assert any("read-only by file permissions only" in line for line in said)
    assert mounted[0][0] == link.resolve()


def test_input_colliding_with_a_snapshot_folder_fails_clearly(world: Any, mnist: Any, tmp_path: Path) -> None:
    run = prepared_run(world, [{"dataset": "mnist", "name": "first"}, {"dataset": "mnist", "name": "data"}])
    workdir = tmp_path / "work" / str(run.pk)
    (workdir / "inputs" / "data").mkdir(parents=True)
    (workdir / "inputs" / "data" / "mine.txt").write_text("snapshot content")
    with pytest.raises(materialize.InputError, match="snapshot already has 'inputs/data'"):
        materialized(run, workdir)
    assert mounts.mounts_under(workdir) == []  # 'first' was released on the way out


def test_missing_blob_is_reported_by_input_name(world: Any, mnist: Any, tmp_path: Path, dataset_store: Path) -> None:
    run = prepared_run(world, [{"dataset": "mnist", "mode": "download"}])
    for blob in (dataset_store / "blobs").glob("*/*"):
        blob.unlink()
    with pytest.raises(materialize.InputError, match=r"Input 'mnist'.*is missing"):
        materialized(run, tmp_path / "work" / str(run.pk))


@needs_root
def test_a_stale_mount_from_an_unreleased_attempt_is_replaced(world: Any, mnist: Any, tmp_path: Path) -> None:
    run = prepared_run(world, [{"dataset": "mnist", "name": "train"}])
    workdir = tmp_path / "work" / str(run.pk)
    first, _, _, _ = materialized(run, workdir)
    args, _, _, _ = materialized(run, workdir)  # as if the executor never called release()
    assert args == first and len(mounts.mounts_under(workdir)) == 1
    assert Path(args[0], "labels.txt").read_text() == "dog\n"
    materialize.release(run, workdir)
    assert mounts.mounts_under(workdir) == []
