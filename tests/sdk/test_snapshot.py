"""Snapshots honour .runyardignore / .amlignore / .gitignore and refuse oversized folders."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from runyard.exceptions import SnapshotTooLargeException
from runyard.snapshot import build_archive, select_files


def make(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def names(root: Path) -> list[str]:
    return sorted(rel for _, rel, _ in select_files(root).files)


def test_gitignore_rules_negation_directories_and_anchoring(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".gitignore": "# comment\n*.log\n!keep.log\ndata/\n/build\ncache/**/tmp\n",
            "train.py": "",
            "a.log": "",
            "keep.log": "",
            "data/big.bin": "",
            "sub/data/x": "",
            "sub/build/y": "",
            "build/z": "",
            "cache/a/b/tmp": "",
            "cache/a/ok": "",
        },
    )
    assert names(tmp_path) == [".gitignore", "cache/a/ok", "keep.log", "sub/build/y", "train.py"]


def test_runyardignore_wins_over_amlignore_and_gitignore(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            ".runyardignore": "secret.txt\n",
            ".amlignore": "train.py\n",
            ".gitignore": "train.py\n",
            "train.py": "",
            "secret.txt": "",
        },
    )
    assert "train.py" in names(tmp_path) and "secret.txt" not in names(tmp_path)
    (tmp_path / ".runyardignore").unlink()
    make(tmp_path, {".amlignore": "secret.txt\n"})
    assert names(tmp_path) == [".amlignore", ".gitignore", "train.py"]


def test_nested_ignore_files_and_never_sent_folders(tmp_path: Path) -> None:
    make(
        tmp_path,
        {
            "pkg/.gitignore": "*.tmp\n",
            "pkg/a.tmp": "",
            "b.tmp": "",
            "pkg/m.py": "",
            ".runyard/config.json": "{}",
            ".git/HEAD": "",
            "__pycache__/x.pyc": "",
        },
    )
    assert names(tmp_path) == ["b.tmp", "pkg/.gitignore", "pkg/m.py"]


def test_archive_holds_the_selected_files(tmp_path: Path) -> None:
    src = make(tmp_path / "src", {"train.py": "print(1)", "lib/util.py": "x = 1", ".amlignore": "*.bin", "w.bin": "0"})
    archive, chosen = build_archive(src)
    try:
        with tarfile.open(archive) as tf:
            assert sorted(tf.getnames()) == [".amlignore", "lib/util.py", "train.py"]
        assert chosen.total_size == len("print(1)") + len("x = 1") + len("*.bin")
    finally:
        archive.unlink()


def test_oversized_snapshot_is_refused_with_the_limit_and_largest_files(tmp_path: Path) -> None:
    make(tmp_path, {"train.py": "", "data/huge.bin": b"0" * 5000})
    with pytest.raises(SnapshotTooLargeException) as caught:
        build_archive(tmp_path, limit_bytes=4096)
    message = str(caught.value)
    assert "4096 bytes" in message and "data/huge.bin" in message and ".runyardignore" in message
    with pytest.raises(SnapshotTooLargeException, match="limit of 1 files"):
        build_archive(tmp_path, limit_files=1)
