"""bench/RESULTS.md sections: a benchmark rewrites its own figures and keeps the notes
written by hand inside its section (what changed, why, earlier rounds)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import harness


def test_a_rewritten_section_keeps_its_notes_and_leaves_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "RESULTS.md"
    monkeypatch.setattr(harness, "RESULTS", results)
    results.write_text(
        "# Results\n\n"
        "<!-- bench:a -->\nold figures of a\n<!-- notes -->\nwhy a changed\n<!-- /notes -->\n<!-- /bench:a -->\n\n"
        "<!-- bench:b -->\nfigures of b\n<!-- /bench:b -->\n"
    )
    harness.write_section("a", "new figures of a\n")
    harness.write_section("c", "figures of c\n")
    text = results.read_text()
    assert "old figures of a" not in text
    assert (
        "<!-- bench:a -->\nnew figures of a\n<!-- notes -->\nwhy a changed\n<!-- /notes -->\n<!-- /bench:a -->" in text
    )
    assert "<!-- bench:b -->\nfigures of b\n<!-- /bench:b -->" in text
    assert text.endswith("<!-- bench:c -->\nfigures of c\n<!-- /bench:c -->\n")


def test_a_section_without_notes_is_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "RESULTS.md"
    monkeypatch.setattr(harness, "RESULTS", results)
    results.write_text("<!-- bench:a -->\nold\n<!-- /bench:a -->\n")
    harness.write_section("a", "new\n")
    assert results.read_text() == "<!-- bench:a -->\nnew\n<!-- /bench:a -->\n"
