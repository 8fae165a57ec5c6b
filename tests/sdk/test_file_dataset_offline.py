"""FileDataset operations that need no server: web-file naming, subsets and copies of
local files, and the argument objects runs receive."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard import Dataset, UserErrorException
from runyard.weburl import BadUrl, relative_paths


def test_web_file_paths_drop_the_common_folder_and_keep_hosts_apart() -> None:
    assert relative_paths(["https://h/demo/green.csv"]) == ["green.csv"]
    assert relative_paths(["https://h/a/x.csv", "https://h/a/b/y.csv"]) == ["x.csv", "b/y.csv"]
    assert relative_paths(["https://one/a/x.csv", "https://two/a/y.csv"]) == ["one/a/x.csv", "two/a/y.csv"]
    assert relative_paths(["https://h/a%20b/x.csv"]) == ["x.csv"]
    with pytest.raises(BadUrl, match="both be the file"):
        relative_paths(["https://h/1/x.csv", "https://h/2/x.csv?v=2", "https://h/2/x.csv"])


def test_local_files_take_skip_split_and_download(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for name in ["a.txt", "b.txt", "c/d.txt", "c/e.txt"]:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(name)
    ds = Dataset.File.from_files(str(src))
    assert ds.to_path() == ["/a.txt", "/b.txt", "/c/d.txt", "/c/e.txt"]
    assert ds.take(2).to_path() == ["/a.txt", "/b.txt"] and ds.skip(3).to_path() == ["/c/e.txt"]
    first, second = ds.random_split(0.25, seed=3)
    assert len(first.to_path()) == 1 and sorted(first.to_path() + second.to_path()) == ds.to_path()
    assert first.to_path() == ds.random_split(0.25, seed=3)[0].to_path()
    assert ds.random_split(0.0)[0].to_path() == [] and ds.random_split(1.0)[1].to_path() == []
    with pytest.raises(UserErrorException, match="count"):
        ds.take(-1)
    written = ds.take(3).download(tmp_path / "out")
    assert [Path(p).relative_to(tmp_path / "out").as_posix() for p in written] == ["a.txt", "b.txt", "c/d.txt"]
    assert (tmp_path / "out" / "c" / "d.txt").read_text() == "c/d.txt"
    with ds.mount() as context:
        point = Path(context.mount_point)
        assert (point / "c" / "e.txt").read_text() == "c/e.txt"
        assert (point / "a.txt").stat().st_mode & 0o777 == 0o444  # a read-only copy
    assert not point.exists()
    one = Dataset.File.from_files(str(src / "a.txt"))
    assert one.single_file and one.to_path() == ["/a.txt"]


def test_web_datasets_as_run_arguments_and_their_subsets() -> None:
    urls = ["https://h/data/x.csv", "https://h/data/y.csv", "https://h/data/z.csv"]
    ds = Dataset.File.from_files(urls)
    assert not ds.single_file and ds.to_path() == ["/x.csv", "/y.csv", "/z.csv"]
    assert ds.as_download().to_input() == {"urls": urls, "mode": "download", "name": "x_csv"}
    assert ds.take(1).as_named_input("first").as_mount().to_input() == {
        "urls": urls[:1],
        "mode": "mount",
        "name": "first",
    }
    assert Dataset.File.from_files(urls[0]).single_file
    with pytest.raises(UserErrorException, match="both URLs and other sources"):
        Dataset.File.from_files([urls[0], "./local"])
    with pytest.raises(UserErrorException, match="scheme 's3' is not allowed"):
        Dataset.File.from_files("s3://bucket/x.csv")
    with pytest.raises(UserErrorException, match="partition_format"):
        Dataset.File.from_files(urls, partition_format="/{a}/x.csv")
