"""common.archives: bombs refused while streaming, every member check, zip CRCs at
submit, and the path cleaner behind datastore and artifact paths (400, never 500)."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import unicodedata
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from common import archives
from common.archives import HEADER_ROOM, Limits, Reason, UnsafeArchive, clean_path, inspect
from runs.models import Run

MIB = 1024 * 1024
GIB = 1024 * MIB
SNAPSHOT_LIKE = Limits(max_bytes=200 * MIB, max_entries=20000, max_entry_bytes=200 * MIB, max_ratio=200)
DATASET_LIKE = Limits(max_bytes=20 * GIB, max_entries=100_000, max_entry_bytes=20 * GIB, max_ratio=200)


# ---- building archives ------------------------------------------------------------------
def gzip_bomb(path: Path, expanded: int = 10 * GIB, members: int = 1) -> Path:
    """A tar.gz of ~10 MB that expands to ``expanded`` bytes of zeros in ``members`` files.

    Concatenated gzip members are one valid gzip stream, so one compressed MiB of zeros
    written again and again builds it in milliseconds."""
    mib_of_zeros = gzip.compress(b"\0" * MIB, 9)
    per_member = expanded // members // MIB
    with open(path, "wb") as out:
        for i in range(members):
            header = tarfile.TarInfo(f"zeros{i}.bin")
            header.size = per_member * MIB
            out.write(gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
            for _ in range(per_member):
                out.write(mib_of_zeros)
        out.write(gzip.compress(b"\0" * 1024))
    return path


def tar_file(path: Path, members: Iterable[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tf.addfile(info, io.BytesIO(member[1]))
    return path


def zip_data(files: dict[str, bytes | str], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def lying_crc_zip() -> bytes:
    """A stored zip whose data no longer matches its CRC (one byte of content changed)."""
    data = bytearray(zip_data({"train.py": "print('hello')\n"}, zipfile.ZIP_STORED))
    start = data.index(b"print('hello')")
    data[start] = ord("P")
    return bytes(data)


def encrypted_zip() -> bytes:
    """A zip whose member is flagged encrypted (general purpose bit 0) in both headers."""
    data = bytearray(zip_data({"secret.txt": "x"}))
    for marker, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(marker) + offset
        data[at] |= 0x1
    return bytes(data)


def refused(archive: Path, limits: Limits = SNAPSHOT_LIKE) -> UnsafeArchive:
    with pytest.raises(UnsafeArchive) as caught:
        inspect(archive, limits)
    return caught.value


# ---- bombs ------------------------------------------------------------------------------
@pytest.mark.parametrize("limits, reason", [(SNAPSHOT_LIKE, Reason.ENTRY_TOO_LARGE), (DATASET_LIKE, Reason.RATIO)])
def test_gzip_bomb_is_refused_at_its_header(tmp_path: Path, limits: Limits, reason: Reason) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz")
    assert bomb.stat().st_size < 12 * MIB
    exc = refused(bomb, limits)
    assert exc.reason is reason, str(exc)
    assert exc.expanded < MIB  # the header was enough: 10 GiB were never expanded


def test_gzip_bomb_of_many_members_is_refused_while_streaming(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz", members=1024)  # 1024 files of 10 MiB, each ~1000×
    exc = refused(bomb, DATASET_LIKE)
    assert exc.reason is Reason.RATIO and "Member 'zeros0.bin' expands more than 200×" in str(exc)
    assert exc.expanded < 4 * MIB


def test_size_limit_stops_the_stream_at_the_first_member_over_it(tmp_path: Path) -> None:
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz", expanded=1 * GIB, members=1024)
    limits = Limits(max_bytes=100 * MIB, max_entries=10_000, max_entry_bytes=100 * MIB, max_ratio=10_000)
    exc = refused(bomb, limits)
    assert exc.reason is Reason.TOO_LARGE and "more than the limit of 100 MB (104857600 bytes)" in str(exc)
    assert 100 * MIB - 2 * MIB < exc.expanded <= 100 * MIB + HEADER_ROOM


def test_giant_tar_header_is_refused_after_the_header_room(tmp_path: Path) -> None:
    header = tarfile.TarInfo("pax")
    header.type = tarfile.XHDTYPE
    header.size = 10 * GIB
    path = tmp_path / "pax.tar.gz"
    mib_of_zeros = gzip.compress(b"\0" * MIB, 9)
    with open(path, "wb") as out:
        out.write(gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT)))
        for _ in range(1024):
            out.write(mib_of_zeros)
    exc = refused(path, DATASET_LIKE)
    assert exc.reason is Reason.TOO_LARGE and "headers larger than" in str(exc)
    assert exc.expanded <= HEADER_ROOM + archives.CHUNK


def test_zip_bomb_over_the_ratio_is_refused_from_its_directory(tmp_path: Path) -> None:
    bomb = write(tmp_path / "bomb.zip", zip_data({"zeros.bin": b"\0" * (8 * MIB)}))
    exc = refused(bomb, Limits(max_bytes=GIB, max_entries=10, max_entry_bytes=GIB, max_ratio=50))
    assert exc.reason is Reason.RATIO and "Member 'zeros.bin' expands more than 50×" in str(exc)
    assert exc.expanded == 0  # refused before a byte was decompressed
    assert [m.path for m in inspect(bomb, Limits(GIB, 10, GIB, 2000))] == ["zeros.bin"]


def test_bzip2_or_lzma_zip_members_are_refused(tmp_path: Path) -> None:
    # zipfile decompresses these without an output bound: a lying header could blow memory.
    archive = write(tmp_path / "a.zip", zip_data({"a.txt": "x" * 100}, zipfile.ZIP_BZIP2))
    exc = refused(archive)
    assert exc.reason is Reason.UNSUPPORTED and "'a.txt'" in str(exc)


def test_per_file_limit(tmp_path: Path) -> None:
    archive = tar_file(tmp_path / "a.tar.gz", [("small", b"x" * 10), ("big", b"x" * 101)])
    exc = refused(archive, Limits(max_bytes=1000, max_entries=10, max_entry_bytes=100, max_ratio=200))
    assert exc.reason is Reason.ENTRY_TOO_LARGE and "'big'" in str(exc) and "100 B (100 bytes) for one file" in str(exc)


# ---- entry count: the limit passes, one more is refused ---------------------------------------
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_entry_count_at_the_limit_passes_and_one_more_is_refused(tmp_path: Path, kind: str) -> None:
    limits = Limits(max_bytes=MIB, max_entries=5, max_entry_bytes=MIB, max_ratio=200)

    def build(count: int) -> Path:
        files = {"folder/": ""} | {f"folder/f{i}.txt": "x" for i in range(count - 1)}  # a folder counts too
        if kind == "zip":
            return write(tmp_path / f"{count}.zip", zip_data(files))
        members: list[tarfile.TarInfo | tuple[str, bytes]] = [entry("folder", tarfile.DIRTYPE)]
        members += [(name, b"x") for name in files if not name.endswith("/")]
        return tar_file(tmp_path / f"{count}.tar.gz", members)

    assert len(inspect(build(5), limits)) == 5
    exc = refused(build(6), limits)
    assert exc.reason is Reason.TOO_MANY_ENTRIES and "more than the limit of 5 files and folders" in str(exc)


@pytest.mark.parametrize("count", [10, 70_000])  # 70 000 needs the zip64 end record
def test_zip_entry_count_is_read_from_the_end_record_before_the_directory(tmp_path: Path, count: int) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(count):
            zf.writestr(f"f{i}", b"")
    data = bytearray(buf.getvalue())
    first = data.index(b"PK\x01\x02")
    data[first : first + 4] = b"XXXX"  # zipfile would stop at this broken directory entry
    exc = refused(write(tmp_path / "many.zip", bytes(data)), Limits(MIB, count - 1, MIB, 200))
    assert exc.reason is Reason.TOO_MANY_ENTRIES, str(exc)
    assert refused(write(tmp_path / "many.zip", bytes(data)), Limits(MIB, count, MIB, 200)).reason is Reason.CORRUPT


# ---- members ----------------------------------------------------------------------------
BAD_MEMBERS: dict[str, tuple[list[tarfile.TarInfo | tuple[str, bytes]], Reason, str]] = {
    "symlink": ([entry("link", tarfile.SYMTYPE, "/etc/passwd")], Reason.LINK, "'link' is a link"),
    "hardlink": ([("a", b"x"), entry("b", tarfile.LNKTYPE, "a")], Reason.LINK, "'b' is a link"),
    "char device": ([entry("dev/null", tarfile.CHRTYPE)], Reason.SPECIAL, "device file or FIFO"),
    "block device": ([entry("sda", tarfile.BLKTYPE)], Reason.SPECIAL, "device file or FIFO"),
    "fifo": ([entry("pipe", tarfile.FIFOTYPE)], Reason.SPECIAL, "device file or FIFO"),
    "dotdot": ([("ok", b"x"), ("../escape.txt", b"x")], Reason.ESCAPE, "'../escape.txt' escapes"),
    "inner dotdot": ([("a/../../escape.txt", b"x")], Reason.ESCAPE, "escapes"),
    "absolute": ([("/etc/cron.d/x", b"x")], Reason.PATH, "absolute path"),
    "drive letter": ([("C:\\Windows\\x", b"x")], Reason.PATH, "absolute path"),
    "backslash dotdot": ([("a\\..\\..\\x", b"x")], Reason.ESCAPE, "escapes"),
    "control character": ([("bell\x07.txt", b"x")], Reason.PATH, "control characters"),
    "long name": ([("d/" + "n" * 256, b"x")], Reason.PATH, "longer than 255 bytes"),
    "long path": ([("/".join(["d" * 100] * 11), b"x")], Reason.PATH, "longer than 1000 characters"),
    "duplicate": ([("a.txt", b"1"), ("a.txt", b"2")], Reason.DUPLICATE, "'a.txt' appears twice"),
    "file then folder": ([("a", b"1"), ("a/b", b"2")], Reason.DUPLICATE, "'a' is both a file and a folder"),
    "folder then file": ([("a/b", b"1"), ("a", b"2")], Reason.DUPLICATE, "'a' is both a file and a folder"),
    "dir entry over a file": ([("a", b"1"), entry("a", tarfile.DIRTYPE)], Reason.DUPLICATE, "both a file and a folder"),
    "unicode forms": (
        [(unicodedata.normalize("NFC", "café.txt"), b"1"), (unicodedata.normalize("NFD", "café.txt"), b"2")],
        Reason.DUPLICATE,
        "different Unicode forms",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MEMBERS))
def test_bad_tar_members_are_refused_naming_them(tmp_path: Path, case: str) -> None:
    members, reason, message = BAD_MEMBERS[case]
    exc = refused(tar_file(tmp_path / "a.tar", members, mode="w"))
    assert exc.reason is reason and message in str(exc), str(exc)


def test_bad_zip_members_are_refused_naming_them(tmp_path: Path) -> None:
    link = io.BytesIO()
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("evil")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    fifo = io.BytesIO()
    with zipfile.ZipFile(fifo, "w") as zf:
        info = zipfile.ZipInfo("pipe")
        info.external_attr = 0o010644 << 16
        zf.writestr(info, "")
    cases = [
        (link.getvalue(), Reason.LINK, "'evil' is a symbolic link"),
        (fifo.getvalue(), Reason.SPECIAL, "'pipe' is a device file or FIFO"),
        (encrypted_zip(), Reason.ENCRYPTED, "'secret.txt' is encrypted"),
        (zip_data({"../up.txt": "x"}), Reason.ESCAPE, "escapes"),
        (zip_data({"/abs.txt": "x"}), Reason.PATH, "absolute path"),
        (zip_data({"a": "1", "a/b": "2"}), Reason.DUPLICATE, "both a file and a folder"),
        (lying_crc_zip(), Reason.CORRUPT, "Bad CRC-32"),
        (b"PK\x03\x04 but not a zip at all", Reason.CORRUPT, "corrupt"),
        (b"just some text", Reason.NOT_AN_ARCHIVE, "neither a zip nor a tar"),
    ]
    for data, reason, message in cases:
        exc = refused(write(tmp_path / "a.zip", data))
        assert exc.reason is reason and message in str(exc), (message, str(exc))


def test_truncated_gzip_is_corrupt(tmp_path: Path) -> None:
    noise = random.Random(0).randbytes(MIB)  # incompressible: no ratio limit in the way
    whole = tar_file(tmp_path / "a.tar.gz", [("a.bin", noise)]).read_bytes()
    exc = refused(write(tmp_path / "cut.tar.gz", whole[: len(whole) // 2]))
    assert exc.reason is Reason.CORRUPT


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_good_tars_pass_with_their_folders_and_modes(tmp_path: Path, mode: str) -> None:
    script = tarfile.TarInfo("./src/run.sh")
    script.size, script.mode = 4, 0o755
    members: list[tarfile.TarInfo | tuple[str, bytes]] = [entry(".", tarfile.DIRTYPE), entry("src", tarfile.DIRTYPE)]
    with tarfile.open(tmp_path / "a.tar", mode) as tf:  # type: ignore[call-overload]
        for member in members:
            tf.addfile(member)
        tf.addfile(script, io.BytesIO(b"echo"))
    found = inspect(tmp_path / "a.tar", SNAPSHOT_LIKE)
    assert [(m.path, m.is_dir, m.size) for m in found] == [("src", True, 0), ("src/run.sh", False, 4)]
    assert found[1].mode == 0o755


# ---- the path cleaner ---------------------------------------------------------------------
def test_clean_path() -> None:
    assert clean_path("./a//b/./c.txt") == "a/b/c.txt"
    assert clean_path("win\\style\\x.txt") == "win/style/x.txt"
    assert clean_path("./", empty_ok=True) == ""
    for bad, reason, message in [
        ("a\x00b", Reason.PATH, "NUL byte"),
        ("", Reason.PATH, "names no file"),
        (".", Reason.PATH, "names no file"),
        ("//server/share", Reason.PATH, "absolute path"),
        ("a/../b", Reason.ESCAPE, "escapes"),
    ]:
        with pytest.raises(UnsafeArchive) as caught:
            clean_path(bad, "File", field="files")
        assert caught.value.reason is reason and caught.value.field == "files" and message in str(caught.value)


# ---- through the API ----------------------------------------------------------------------
def _snapshot_files(settings: Any) -> list[Path]:
    return sorted(Path(settings.RUNYARD["SNAPSHOT_DIR"]).glob("*"))


def test_a_zip_lying_about_its_crc_is_refused_at_submit(world: Any, settings: Any) -> None:
    before = _snapshot_files(settings)
    data = lying_crc_zip()
    upload = io.BytesIO(data)
    upload.name = "src.zip"
    response = world.alice.client.post("/api/runs/", {"snapshot": upload, "script": "train.py"}, format="multipart")
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["snapshot"])
    assert "'train.py'" in message and "Bad CRC-32" in message
    assert not Run.objects.exists()
    assert _snapshot_files(settings) == before
    assert not (Path(settings.RUNYARD["SNAPSHOT_DIR"]) / f"{hashlib.sha256(data).hexdigest()}.archive").exists()


def test_a_gzip_bomb_snapshot_is_refused_at_submit(world: Any, settings: Any, tmp_path: Path) -> None:
    before = _snapshot_files(settings)
    bomb = gzip_bomb(tmp_path / "bomb.tar.gz")
    with open(bomb, "rb") as upload:
        response = world.alice.client.post("/api/runs/", {"snapshot": upload, "script": "train.py"}, format="multipart")
    assert response.status_code == 400, response.content
    limit = settings.RUNYARD["SNAPSHOT_MAX_BYTES"]
    assert f"({limit} bytes)" in " ".join(response.json()["snapshot"])
    assert not Run.objects.exists() and _snapshot_files(settings) == before


def test_an_encrypted_or_duplicate_snapshot_is_refused(world: Any) -> None:
    duplicate = io.BytesIO()
    with tarfile.open(fileobj=duplicate, mode="w:gz") as tf:
        for content in (b"print(1)", b"print(2)"):
            info = tarfile.TarInfo("train.py")
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    duplicate.seek(0)
    duplicate.name = "src.tar.gz"
    encrypted = io.BytesIO(encrypted_zip())
    encrypted.name = "src.zip"
    for upload, message in ((duplicate, "'train.py' appears twice"), (encrypted, "'secret.txt' is encrypted")):
        response = world.alice.client.post("/api/runs/", {"snapshot": upload, "script": "train.py"}, format="multipart")
        assert response.status_code == 400 and message in " ".join(response.json()["snapshot"])
    assert not Run.objects.exists()


def test_snapshot_round_trip_extracts_what_was_checked(settings: Any, tmp_path: Path) -> None:
    from runs import snapshots

    settings.RUNYARD = {**settings.RUNYARD, "SNAPSHOT_DIR": tmp_path / "snapshots"}
    data = zip_data({"train.py": "print(1)\n", "pkg/": "", "pkg/util.py": "X = 1\n"})
    stored = snapshots.store(io.BytesIO(data))
    assert stored.files == ["train.py", "pkg/util.py"]
    files = snapshots.extract(stored.sha256, tmp_path / "run")
    assert files == ["pkg/util.py", "train.py"]
    assert (tmp_path / "run" / "pkg" / "util.py").read_text() == "X = 1\n"


def test_nul_in_a_datastore_path_answers_400_naming_path(world: Any) -> None:
    from datasets.services import default_datastore

    store = default_datastore()
    for name in ("a\x00b", "a\x07b"):
        response = world.alice.client.get(f"/api/datastores/{store.pk}/files/", {"path": name})
        assert response.status_code == 400, response.content
        assert "path" in response.json()
    response = world.alice.client.get(f"/api/datastores/{store.pk}/files/", {"path": "../.."})
    assert response.status_code == 400 and "outside datastore" in str(response.json())
    assert world.alice.client.get(f"/api/datastores/{store.pk}/files/", {"path": "/"}).status_code == 200


def test_artifact_paths_are_cleaned_too(world: Any) -> None:
    from tests.factories import make_run

    run = make_run(world.alice.user, world.team_a)
    response = world.alice.client.get(f"/api/runs/{run.pk}/artifacts/download/", {"path": "a\x00b"})
    # Refused by the API's NUL check before the path cleaner sees it; either names the field.
    assert response.status_code == 400 and "NUL" in " ".join(response.json()["path"])
    for name, message in (("../up.txt", "escapes"), ("/etc/x", "absolute path"), ("a\x00b", "NUL byte")):
        upload = io.BytesIO(b"data")
        upload.name = "x.bin"
        response = world.alice.client.post(
            f"/api/runs/{run.pk}/artifacts/", {"file": upload, "name": name}, format="multipart"
        )
        assert response.status_code == 400 and message in " ".join(response.json()["name"]), response.content
    assert not run.artifacts.exists()


def test_resubmitting_a_snapshot_that_fails_todays_limits_answers_400(world: Any, settings: Any) -> None:
    from tests.conftest import make_tar

    first = world.alice.client.post(
        "/api/runs/", {"snapshot": make_tar({"train.py": "x" * 5000}), "script": "train.py"}, format="multipart"
    )
    assert first.status_code == 201, first.content
    settings.RUNYARD = {**settings.RUNYARD, "SNAPSHOT_MAX_BYTES": 1000}
    again = world.alice.client.post("/api/runs/", {"resubmit_of": first.json()["id"]}, format="json")
    assert again.status_code == 400, again.content
    assert "1000 bytes" in " ".join(again.json()["resubmit_of"])
    assert Run.objects.count() == 1


def test_the_script_path_is_cleaned_like_the_snapshot_members(world: Any) -> None:
    from tests.conftest import make_tar

    made = world.alice.client.post(
        "/api/runs/",
        {"snapshot": make_tar({"src/train.py": "print(1)"}), "script": "./src//train.py"},
        format="multipart",
    )
    assert made.status_code == 201, made.content
    assert Run.objects.get(pk=made.json()["id"]).script == "src/train.py"
    for script, message in (("../train.py", "escapes"), ("/src/train.py", "absolute path")):
        response = world.alice.client.post(
            "/api/runs/", {"snapshot": make_tar({"train.py": "x"}), "script": script}, format="multipart"
        )
        assert response.status_code == 400 and message in " ".join(response.json()["script"]), response.content
        assert "Must be a path inside the snapshot" in " ".join(response.json()["script"])
