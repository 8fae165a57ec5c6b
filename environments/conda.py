"""The part of a conda environment file Runyard honours: Python and pip packages.

Conda-only packages cannot be installed by a pip/uv builder; they are refused with a
message that says which ones, rather than silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

_ALLOWED_CONDA = {"python", "pip", "setuptools", "wheel"}


def _parse(text: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValidationError({"conda_specification": [f"Not valid YAML: {exc}"]}) from None
    if not isinstance(data, dict):
        raise ValidationError({"conda_specification": ["Must be a mapping with 'dependencies'."]})
    return data


def pip_part(text: str) -> list[str]:
    if not text.strip():
        return []
    pip: list[str] = []
    for dep in _parse(text).get("dependencies", []) or []:
        if isinstance(dep, dict) and "pip" in dep:
            pip.extend(str(p) for p in dep["pip"] or [])
    return pip


def python_version(text: str) -> str | None:
    for dep in (_parse(text).get("dependencies", []) or []) if text.strip() else []:
        if isinstance(dep, str):
            match = re.match(r"^python\s*=+\s*(3\.\d+)", dep)
            if match:
                return match.group(1)
    return None


def conda_only_packages(text: str) -> list[str]:
    if not text.strip():
        return []
    out = []
    for dep in _parse(text).get("dependencies", []) or []:
        if isinstance(dep, str):
            name = re.split(r"[=<>!\s]", dep, maxsplit=1)[0].lower()
            if name not in _ALLOWED_CONDA:
                out.append(dep)
    return out
