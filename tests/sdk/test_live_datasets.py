"""Datasets as Azure ML v1 code writes them, against a live server and worker: web-URL
datasets served by a real HTTP server on 127.0.0.1, single-file datasets, ``to_path``,
``download``, ``mount``, ``take`` and ``random_split``, and a run that reads them."""

from __future__ import annotations

import io
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from runyard import Dataset, Experiment, Run, ScriptRunConfig, UserErrorException, Workspace
from tests.datasets.webserver import WebFiles
from tests.datasets.webserver import web as web

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

FILES = {
    "/mnist/train/a.csv": b"1,2\n",
    "/mnist/train/b.csv": b"3,4\n",
    "/mnist/test/c.csv": b"5,6\n",
    "/mnist/test/d.csv": b"7,8\n",
    "/demo/Titanic.csv": b"name,survived\nRose,1\n",
}


@pytest.fixture
def ws(live: Any, world: Any) -> Workspace:
    return Workspace(live.url, world.alice.key)


def test_azureml_names_are_runyards() -> None:
    import azureml.core
    import azureml.data
    from azureml.data.file_dataset import FileDataset

    import runyard.dataset

    assert azureml.core.Dataset is runyard.dataset.Dataset
    assert azureml.data.FileDataset is FileDataset is runyard.dataset.FileDataset


def test_url_dataset_paths_download_mount_take_and_split(ws: Workspace, web: WebFiles, tmp_path: Path) -> None:
    web.files.update(FILES)
    urls = [web.url(p) for p in FILES if p.startswith("/mnist/")]
    dataset = Dataset.File.from_files(path=urls)
    expected = ["/train/a.csv", "/train/b.csv", "/test/c.csv", "/test/d.csv"]
    assert dataset.to_path() == expected  # computed locally, as Azure does before registering
    assert dataset.as_named_input("x").as_mount().to_input() == {"urls": urls, "mode": "mount", "name": "x"}
    with pytest.raises(UserErrorException, match="scheme 'ftp'"):
        Dataset.File.from_files("ftp://example.com/a.csv")

    registered = dataset.register(ws, "mnist web", description="digits from the web")
    assert (registered.name, registered.version, registered.file_count) == ("mnist web", 1, 4)
    assert sorted(registered.to_path()) == sorted(expected)

    written = registered.download(target_path=tmp_path / "dl")
    assert sorted(Path(p).relative_to(tmp_path / "dl").as_posix() for p in written) == sorted(
        e.lstrip("/") for e in expected
    )
    assert (tmp_path / "dl" / "test" / "d.csv").read_bytes() == b"7,8\n"
    with pytest.raises(UserErrorException, match=r"already exists\. Set overwrite=True"):
        registered.download(target_path=tmp_path / "dl")
    assert len(registered.download(target_path=tmp_path / "dl", overwrite=True)) == 4
    temporary = registered.download()
    assert all(os.path.isabs(p) and Path(p).is_file() for p in temporary)

    with registered.mount() as context:
        point = Path(context.mount_point)
        assert sorted(os.listdir(point)) == ["test", "train"] and (point / "train/a.csv").read_bytes() == b"1,2\n"
    assert not point.exists()

    first_two = registered.take(2)
    assert first_two.name is None and first_two.to_path() == sorted(registered.to_path())[:2]
    train, rest = registered.random_split(percentage=0.5, seed=7)
    again, _ = registered.random_split(percentage=0.5, seed=7)
    assert len(train.to_path()) == len(rest.to_path()) == 2 and train.to_path() == again.to_path()
    assert sorted(train.to_path() + rest.to_path()) == sorted(expected)
    with pytest.raises(UserErrorException, match="percentage"):
        registered.random_split(1.5)
    saved = train.register(ws, "mnist web train")
    assert saved.version == 1 and sorted(saved.to_path()) == sorted(train.to_path())


READER = """
import argparse, os, sys
from pathlib import Path
from azureml.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--web")
parser.add_argument("--titanic")
parser.add_argument("--notes")
parser.add_argument("--part")
parser.add_argument("--inline")
args = parser.parse_args()
web = Path(args.web)
print("web files", sorted(p.relative_to(web).as_posix() for p in web.rglob("*") if p.is_file()))
print("web b", (web / "train" / "b.csv").read_text().strip())
print("titanic is a file", os.path.isfile(args.titanic), os.path.basename(args.titanic))
print("titanic first line", open(args.titanic).readline().strip())
print("notes is a file", os.path.isfile(args.notes), open(args.notes).read().strip())
part = Path(args.part)
print("part files", sorted(p.name for p in part.rglob("*") if p.is_file()))
print("inline", sorted(p.name for p in Path(args.inline).iterdir()))
print("inputs", sorted(Run.get_context().input_datasets))
"""


def test_a_run_reads_a_url_dataset_a_single_file_dataset_and_a_subset(
    ws: Workspace, web: WebFiles, tmp_path: Path
) -> None:
    web.files.update(FILES)
    mnist = Dataset.File.from_files([web.url(p) for p in FILES if p.startswith("/mnist/")]).register(ws, "mnist urls")
    titanic = Dataset.File.from_files(web.url("/demo/Titanic.csv")).register(ws, "titanic")
    notes_file = tmp_path / "notes.txt"
    notes_file.write_text("one file only\n")
    notes = Dataset.File.from_files(str(notes_file)).register(ws, "diabetes dataset")
    assert notes.single_file and titanic.single_file and not mnist.single_file
    src = tmp_path / "src"
    src.mkdir()
    (src / "read.py").write_text(textwrap.dedent(READER))
    config = ScriptRunConfig(
        source_directory=src,
        script="read.py",
        arguments=[
            "--web",
            mnist.as_named_input("web").as_mount(),
            "--titanic",
            titanic.as_named_input("titanic").as_download(),
            "--notes",
            notes.as_named_input("notes").as_mount(),
            "--part",
            mnist.take(1).as_named_input("part").as_download(),
            "--inline",  # never registered, as Azure's samples often pass them
            Dataset.File.from_files([web.url("/mnist/train/a.csv"), web.url("/demo/Titanic.csv")]).as_mount(),
        ],
    )
    run = Experiment(ws, "web-datasets").submit(config)
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, stream=out)
    log = out.getvalue()
    assert details["status"] == "Completed", log
    assert "web files ['test/c.csv', 'test/d.csv', 'train/a.csv', 'train/b.csv']" in log
    assert "web b 3,4" in log
    assert "titanic is a file True Titanic.csv" in log and "titanic first line name,survived" in log
    assert "notes is a file True one file only" in log
    assert "part files ['c.csv']" in log  # the first file in the version's (path) order
    assert "inline ['demo', 'mnist']" in log  # no common folder: each keeps its whole path
    assert "inputs ['a_csv', 'notes', 'part', 'titanic', 'web']" in log
    assert web.url("/mnist/train/b.csv") in log and "sha256" in log  # the run log says what was fetched
    assert web.bodies["/mnist/test/c.csv"] == 1  # the subset reused the first input's fetch


def test_a_url_that_cannot_be_fetched_fails_the_run_naming_it(ws: Workspace, web: WebFiles, tmp_path: Path) -> None:
    gone = Dataset.File.from_files(web.url("/gone/data.csv")).register(ws, "gone")
    src = tmp_path / "src"
    src.mkdir()
    (src / "read.py").write_text("print('never runs')\n")
    run: Run = Experiment(ws, "web-datasets").submit(
        ScriptRunConfig(source_directory=src, script="read.py", arguments=[gone.as_mount()])
    )
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, stream=out, raise_on_error=False)
    assert details["status"] == "Failed"
    assert web.url("/gone/data.csv") in (details.get("error") or "") + out.getvalue()
    assert "404" in (details.get("error") or "") + out.getvalue()
    assert "never runs" not in out.getvalue()


def test_cli_registers_urls_and_downloads_a_version(live: Any, world: Any, web: WebFiles, tmp_path: Path) -> None:
    from tests.sdk.test_live_cli import cli

    web.files.update(FILES)
    auth = ("--url", live.url, "--token", world.alice.key)
    urls = [web.url("/mnist/train/a.csv"), web.url("/mnist/test/c.csv")]
    made = cli(tmp_path, *auth, "dataset", "upload", "web cli", *urls, "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["file_count"] == 2
    mixed = cli(tmp_path, *auth, "dataset", "upload", "web cli", urls[0], str(tmp_path))
    assert mixed.returncode == 1 and "one or more http(s) URLs" in mixed.stderr
    got = cli(tmp_path, *auth, "dataset", "download", "web cli", "--target", "out", "--json")
    assert got.returncode == 0, got.stderr
    assert sorted(Path(p).relative_to(tmp_path / "out").as_posix() for p in json.loads(got.stdout)["files"]) == [
        "test/c.csv",
        "train/a.csv",
    ]
    again = cli(tmp_path, *auth, "dataset", "download", "web cli", "--target", "out")
    assert again.returncode != 0 and "already exists" in again.stderr
