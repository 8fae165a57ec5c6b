"""Runs really consume datasets (live stack: ASGI server + Celery worker): a mounted and
a downloaded dataset, the DataReference style, and Run.get_context().input_datasets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from datasets import mounts
from datasets.services import default_datastore
from runs.models import RunInput
from runs.status import Status
from tests.conftest import make_tar
from tests.datasets.helpers import create_dataset, folder, register
from tests.executor.helpers import lines, submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


READER = r"""
import errno, json, os, sys
from pathlib import Path

args = sys.argv[1:]
train, copy = Path(args[1]), Path(args[3])
print("train files", sorted(p.relative_to(train).as_posix() for p in train.rglob("*") if p.is_file()))
print("labels", (train / "labels.txt").read_text().strip(), (copy / "labels.txt").read_text().strip())
attempts = {
    "overwrite": lambda: (train / "labels.txt").write_text("hacked"),
    "create": lambda: (train / "new.txt").write_text("x"),
    "delete": lambda: (train / "labels.txt").unlink(),
}
for what, attempt in attempts.items():
    try:
        attempt()
        print(what, "ALLOWED")
    except OSError as exc:
        print(what, "refused", errno.errorcode.get(exc.errno, exc.errno))
(copy / "labels.txt").write_text("my copy")
print("copy now", (copy / "labels.txt").read_text())
print("RUNYARD_INPUTS", json.dumps(json.loads(os.environ["RUNYARD_INPUTS"]), sort_keys=True))
try:
    from runyard import Run
except ImportError as exc:
    print("input_datasets unavailable", exc)
else:
    print("input_datasets", json.dumps(Run.get_context().input_datasets, sort_keys=True))
"""


@pytest.fixture
def clean_mounts() -> Iterator[None]:
    yield
    mounts.unmount_under(Path(settings.RUNYARD["WORK_DIR"]))


def stdout(run_id: int) -> dict[str, str]:
    out = {}
    for line in lines(run_id, rank=0, stream="stdout"):
        key, _, rest = line.partition(" ")
        if key == "train":
            key, _, rest = line.partition(" files ")
            key = "train files"
        out[key] = rest
    return out


def test_run_reads_a_mounted_and_a_downloaded_dataset(live: Any, world: Any, clean_mounts: None) -> None:
    client = world.alice.client
    name = f"mnist-{uuid.uuid4().hex[:8]}"
    ds = create_dataset(client, name)
    v1 = register(client, ds["id"], files=folder({"labels.txt": "cat\n", "train/a.csv": "1,2\n"}))
    v2 = register(client, ds["id"], files=folder({"labels.txt": "dog\n", "train/a.csv": "3,4\n"}))
    arguments = [
        "--train",
        {"dataset": name, "mode": "mount", "name": "train"},
        "--copy",
        {"dataset": name, "version": 1, "mode": "download", "name": "copy"},
    ]
    made = submit(world.alice, {"train.py": READER}, arguments=arguments)
    run = wait_status(made["id"])
    log = "\n".join(lines(run.pk))
    assert run.status == Status.COMPLETED, f"{run.error}\n{log}"
    out = stdout(run.pk)
    assert out["train files"] == "['labels.txt', 'train/a.csv']"
    assert out["labels"] == "dog cat"  # latest by default; version 1 when asked
    if mounts.supported():
        assert out["overwrite"] == out["create"] == out["delete"] == "refused EROFS", log
    assert "ALLOWED" not in log
    assert out["copy"] == "now my copy"
    workdir = Path(settings.RUNYARD["WORK_DIR"]) / str(run.pk)
    expected = {"copy": str(workdir / "inputs" / "copy"), "train": str(workdir / "inputs" / "train")}
    assert json.loads(out["RUNYARD_INPUTS"]) == expected
    recorded = {i.name: (i.dataset_version_id, i.mode, i.local_path) for i in RunInput.objects.filter(run=run)}
    assert recorded == {
        "train": (v2["id"], "mount", expected["train"]),
        "copy": (v1["id"], "download", expected["copy"]),
    }
    listed = client.get(f"/api/runs/{run.pk}/inputs/").json()
    assert {(i["name"], i["dataset"], i["version"], i["mode"]) for i in listed} == {
        ("train", name, 2, "mount"),
        ("copy", name, 1, "download"),
    }
    # the stored data is untouched
    detail = client.get(f"/api/dataset-versions/{v2['id']}/").json()
    from datasets.storage import blob_path

    for item in detail["files"]:
        assert blob_path(item["sha256"]).stat().st_size == item["size"]
    assert (blob_path(next(f["sha256"] for f in detail["files"] if f["path"] == "labels.txt"))).read_text() == "dog\n"
    # the version is in use now
    assert client.delete(f"/api/dataset-versions/{v2['id']}/").status_code == 409


def test_run_can_read_input_datasets_through_the_sdk(live: Any, world: Any, clean_mounts: None) -> None:
    try:
        from runyard import Run

        Run.input_datasets  # noqa: B018
    except (ImportError, AttributeError):
        pytest.skip("the SDK has no Run.input_datasets yet")
    client = world.alice.client
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    ds = create_dataset(client, name)
    register(client, ds["id"], files=folder({"labels.txt": "dog\n"}))
    register(client, ds["id"], files=folder({"labels.txt": "cow\n"}))
    script = (
        "from pathlib import Path\nfrom runyard import Run\n"
        "paths = Run.get_context().input_datasets\n"
        "print('names', sorted(paths))\n"
        "print('train', Path(paths['train'], 'labels.txt').read_text().strip())\n"
        "print('copy', Path(paths['copy'], 'labels.txt').read_text().strip())\n"
    )
    arguments = [
        {"dataset": name, "name": "train"},
        {"dataset": name, "version": 1, "mode": "download", "name": "copy"},
    ]
    made = submit(world.alice, {"train.py": script}, arguments=arguments)
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error + "\n".join(lines(run.pk))
    assert lines(run.pk, rank=0, stream="stdout") == ["names ['copy', 'train']", "train cow", "copy dog"]


def test_datareference_style_datastore_path_in_the_arguments(live: Any, world: Any, clean_mounts: None) -> None:
    store = default_datastore()
    folder_name = f"ref-{uuid.uuid4().hex[:8]}"
    # A team sees its own folder of the default datastore (datasets.services.team_folder).
    root = Path(store.root_path) / "teams" / world.team_a.slug / folder_name
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.txt").write_text("from the datastore")
    script = (
        "import sys\nfrom pathlib import Path\n"
        "mounted, copied = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "print('mounted', (mounted / 'sub' / 'x.txt').read_text())\n"
        "print('copied', (copied / 'x.txt').read_text())\n"
        "try:\n    (mounted / 'sub' / 'x.txt').write_text('changed')\n    print('write ALLOWED')\n"
        "except OSError as exc:\n    print('write refused', exc.errno)\n"
    )
    arguments = [
        {"datastore": store.name, "path": f"{folder_name}/", "mode": "mount", "name": "raw"},
        {"datastore": store.name, "path": f"{folder_name}/sub", "mode": "download"},
    ]
    made = submit(world.alice, {"train.py": script}, arguments=arguments)
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error + "\n".join(lines(run.pk))
    out = lines(run.pk, rank=0, stream="stdout")
    assert out[:2] == ["mounted from the datastore", "copied from the datastore"]
    if mounts.supported():
        assert out[2] == "write refused 30"  # EROFS
    assert (root / "sub" / "x.txt").read_text() == "from the datastore"
    inputs = {i.name: (i.datastore_id, i.datastore_path, i.mode) for i in RunInput.objects.filter(run=run)}
    default_name = f"{store.name}_{folder_name}_sub".replace("-", "-")
    assert inputs == {
        "raw": (store.pk, folder_name, "mount"),
        default_name: (store.pk, f"{folder_name}/sub", "download"),
    }


def test_mounts_are_released_when_the_run_ends(live: Any, world: Any, clean_mounts: None) -> None:
    client = world.alice.client
    name = f"rel-{uuid.uuid4().hex[:8]}"
    ds = create_dataset(client, name)
    register(client, ds["id"], files=folder({"a.txt": "a"}))
    made = submit(
        world.alice,
        {"train.py": "import sys\nprint(open(sys.argv[1] + '/a.txt').read())\n"},
        arguments=[{"dataset": name}],
    )
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error
    workdir = Path(settings.RUNYARD["WORK_DIR"]) / str(run.pk)
    assert mounts.mounts_under(workdir) == []
    assert not workdir.exists()


def test_inputs_outside_arguments_and_azure_reference_strings(live: Any, world: Any, clean_mounts: None) -> None:
    """Inputs given apart from the arguments reach the script through RUNYARD_INPUTS and
    AZUREML_DATAREFERENCE_<name>; `$AZUREML_DATAREFERENCE_<name>` inside a string argument
    becomes the path (Azure ML's string form)."""
    client = world.alice.client
    name = f"side-{uuid.uuid4().hex[:8]}"
    ds = create_dataset(client, name)
    register(client, ds["id"], files=folder({"a.txt": "side data"}))
    script = (
        "import json, os, sys\n"
        "paths = json.loads(os.environ['RUNYARD_INPUTS'])\n"
        "print('arg', sys.argv[1])\n"
        "print('env', os.environ['AZUREML_DATAREFERENCE_side'] == paths['side'])\n"
        "print('read', open(os.path.join(paths['side'], 'a.txt')).read())\n"
    )
    made = submit(
        world.alice,
        {"train.py": script},
        arguments=["--data=$AZUREML_DATAREFERENCE_side"],
        inputs=[{"dataset": name, "mode": "download", "name": "side"}],
    )
    run = wait_status(made["id"])
    assert run.status == "Completed", run.error
    out = lines(run.pk)
    path = RunInput.objects.get(run=run, name="side").local_path
    assert f"arg --data={path}" in out and "env True" in out and "read side data" in out
    bad = client.post("/api/runs/", {
        "snapshot": make_tar({"train.py": script}), "script": "train.py",
        "inputs": json.dumps([{"dataset": "missing-one"}]),
    }, format="multipart")  # fmt: skip
    assert bad.status_code == 400 and "inputs[0]" in str(bad.json()["inputs"])
