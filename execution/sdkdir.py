"""A copy of the ``runyard`` SDK that every run gets on its PYTHONPATH.

Only the SDK package is exposed (not this Django project), so ``from runyard import
Run`` works in any run environment without the user listing it, as Azure ML adds
azureml-defaults. The in-run part of the SDK uses the standard library only.

Beside it goes the ``azureml`` compatibility namespace (``runyard/_azureml``, see its
docstring), so ``from azureml.core.run import Run`` is Runyard's Run in every run, ahead
of any ``azureml`` package the environment installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from django.conf import settings

import runyard

AZUREML_DIR = "_azureml"  # shipped as the top-level package ``azureml``


@lru_cache(maxsize=8)
def sdk_path(root: Path | None = None) -> Path:
    source = Path(runyard.__file__).parent
    digest = hashlib.sha256()
    files = sorted(p for p in source.rglob("*.py"))
    for path in files:
        digest.update(path.relative_to(source).as_posix().encode())
        digest.update(path.read_bytes())
    target = (root or Path(settings.DATA_DIR) / "sdk") / digest.hexdigest()[:16]
    if not (target / "azureml" / "__init__.py").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent))
        shutil.copytree(source, staging / "runyard", ignore=shutil.ignore_patterns("__pycache__", AZUREML_DIR))
        shutil.copytree(source / AZUREML_DIR, staging / "azureml", ignore=shutil.ignore_patterns("__pycache__"))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide it from sandboxed runs' uid
        try:
            os.replace(staging, target)
        except OSError:  # another worker process got there first
            shutil.rmtree(staging, ignore_errors=True)
    elif target.stat().st_mode & 0o755 != 0o755:
        target.chmod(0o755)  # a copy made before runs were sandboxed
    return target
