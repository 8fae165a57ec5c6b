"""A real PEP 503 package index on disk, holding one small pure-Python wheel of a name
no other index has: a build that installs it must have used this index."""

from __future__ import annotations

import base64
import hashlib
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalIndex:
    root: Path  # holds simple/ and files/
    project: str  # the distribution name, e.g. runyard-probe-1a2b3c4d
    module: str  # its import name
    token: str  # the module's VALUE, unique to this index

    @property
    def url(self) -> str:
        return f"file://{self.root}/simple"

    @property
    def wheels(self) -> Path:
        return self.root / "files"

    @property
    def requirement(self) -> str:
        return f"{self.project}==1.0"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"{name},sha256={digest},{len(data)}"


def make_index(root: Path) -> LocalIndex:
    """A wheel ``runyard-probe-<hex>==1.0`` (module ``runyard_probe_<hex>``) in ``root``."""
    suffix = uuid.uuid4().hex[:8]
    project, module, token = f"runyard-probe-{suffix}", f"runyard_probe_{suffix}", uuid.uuid4().hex
    dist = f"{module}-1.0"
    files = {
        f"{module}/__init__.py": f"VALUE = {token!r}\n".encode(),
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n".encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: runyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [_record_line(name, data) for name, data in files.items()] + [f"{dist}.dist-info/RECORD,,"]
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    (root / "files").mkdir(parents=True, exist_ok=True)
    wheel = root / "files" / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = root / "simple" / project
    page.mkdir(parents=True)
    (page / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="../../files/{wheel.name}#sha256={sha}">{wheel.name}</a></body></html>\n'
    )
    (root / "simple" / "index.html").write_text(f'<html><body><a href="{project}/">{project}</a></body></html>\n')
    return LocalIndex(root, project, module, token)


def pip_conf(path: Path, **keys: str) -> Path:
    """A pip.conf with ``keys`` (index_url= → index-url) in its [global] section."""
    lines = ["[global]", *(f"{key.replace('_', '-')} = {value}" for key, value in keys.items())]
    path.write_text("\n".join(lines) + "\n")
    return path
