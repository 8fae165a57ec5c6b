"""Run artifacts: files under outputs/ collected at Finalizing, plus SDK uploads."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import IO

from django.conf import settings

from common.archives import clean_path
from runs.models import Artifact, Run


def root_of(run_id: int) -> Path:
    return Path(settings.RUNYARD["ARTIFACT_DIR"]) / str(run_id)


def file_of(art: Artifact) -> Path:
    return root_of(art.run_id) / art.path


def clean_name(name: str, field: str = "name") -> str:
    """An artifact's relative path inside the run, or UnsafeArchive naming ``field``."""
    return clean_path(name, "Artifact", field=field)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_upload(run: Run, name: str, upload: IO[bytes]) -> Artifact:
    rel = clean_name(name)
    dest = root_of(run.pk) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(upload, out, 1 << 20)
    os.replace(tmp, dest)
    art, _ = Artifact.objects.update_or_create(
        run=run, path=rel, defaults={"size": dest.stat().st_size, "sha256": _digest(dest)}
    )
    return art


def collect(run: Run, outputs_dir: Path) -> int:
    """Copy every regular file under ``outputs_dir`` into the run's artifacts.

    The worker reads as root what a sandboxed script wrote: a link (``outputs`` itself
    included) is never followed, since it may name any path of the host, such as the
    data dir the script cannot see."""
    if outputs_dir.is_symlink() or not outputs_dir.is_dir():
        return 0
    count = 0
    base = outputs_dir.resolve()
    for path in sorted(outputs_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue  # a link could point anywhere on the worker host
        rel = "outputs/" + path.relative_to(outputs_dir).as_posix()
        if base not in path.resolve().parents:
            continue
        dest = root_of(run.pk) / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        Artifact.objects.update_or_create(
            run=run, path=rel, defaults={"size": dest.stat().st_size, "sha256": _digest(dest)}
        )
        count += 1
    return count
