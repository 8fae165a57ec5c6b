"""CondaDependencies, as in ``azureml.core.conda_dependencies``: Python + conda + pip packages.

Runyard builds environments with uv from PyPI-style indexes: the server translates the
conda packages into PyPI requirements (``pytorch`` → ``torch``, ``numpy=1.26`` →
``numpy==1.26.*``; the build log lists each translation) and refuses, naming the fix,
those PyPI cannot provide (``cudatoolkit``, ``mkl``…). ``python=X.Y`` chooses the
interpreter. The environment.yml reader understands the usual layout (name, channels,
dependencies with a nested ``- pip:`` list) without needing PyYAML.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from runyard.exceptions import UserErrorException

DEFAULT_PYTHON = "3.11"


def conda_package_name(spec: str) -> str:
    spec = spec.strip().split("::", 1)[-1]
    return re.split(r"[=<>!\s\[]", spec.strip(), maxsplit=1)[0].lower()


def _scalar(text: str) -> str:
    text = text.split(" #", 1)[0].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text


def parse_environment_yaml(text: str) -> tuple[str | None, list[str], list[str], list[str]]:
    """Return (name, channels, conda dependencies, pip dependencies) of an environment.yml."""
    name: str | None = None
    channels: list[str] = []
    conda: list[str] = []
    pip: list[str] = []
    section = ""
    in_pip = False
    pip_indent = -1
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        line = raw.strip()
        if indent == 0 and not line.startswith("-"):
            key, _, value = line.partition(":")
            section = key.strip()
            in_pip = False
            if section == "name":
                name = _scalar(value)
            elif value.strip().startswith("["):
                items = [_scalar(v) for v in value.strip().strip("[]").split(",") if v.strip()]
                (channels if section == "channels" else conda if section == "dependencies" else []).extend(items)
            continue
        if not line.startswith("-"):
            raise UserErrorException(f"Cannot read this line of the conda specification: {raw!r}")
        item = line[1:].strip()
        if in_pip and indent > pip_indent:
            pip.append(_scalar(item))
            continue
        in_pip = False
        if section == "channels":
            channels.append(_scalar(item))
        elif section == "dependencies":
            if re.match(r"^pip\s*:", item):
                in_pip = True
                pip_indent = indent
                rest = item.split(":", 1)[1].strip()
                if rest.startswith("["):
                    pip.extend(_scalar(v) for v in rest.strip("[]").split(",") if v.strip())
                    in_pip = False
            else:
                conda.append(_scalar(item))
    return name, channels, conda, pip


class CondaDependencies:
    """Python version, conda packages and pip packages of an environment."""

    def __init__(
        self,
        conda_dependencies_file_path: str | os.PathLike[str] | None = None,
        _underlying_structure: str | None = None,
    ) -> None:
        self.name: str | None = "project_environment"
        self.channels: list[str] = ["conda-forge"]
        self._conda: list[str] = [f"python={DEFAULT_PYTHON}"]
        self._pip: list[str] = []
        self._pip_options: list[str] = []  # --extra-index-url … lines of the pip section
        text = _underlying_structure
        if conda_dependencies_file_path is not None:
            path = Path(conda_dependencies_file_path)
            if not path.is_file():
                raise UserErrorException(f"Conda specification file not found: {path}")
            text = path.read_text()
        if text is not None:
            self.name, self.channels, self._conda, pip = parse_environment_yaml(text)
            self._pip = [p for p in pip if not p.startswith("-")]
            self._pip_options = [p for p in pip if p.startswith("-")]

    @staticmethod
    def create(
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
        pip_indexurl: str | None = None,
    ) -> CondaDependencies:
        """Azure's factory; ``pin_sdk_version`` is ignored. ``pip_indexurl`` becomes an
        ``--extra-index-url`` option: the server accepts it when it is an allowed index."""
        deps = CondaDependencies()
        if pip_indexurl:
            deps.set_pip_option(f"--extra-index-url {pip_indexurl}")
        deps.set_python_version(python_version or DEFAULT_PYTHON)
        for package in conda_packages or []:
            deps.add_conda_package(package)
        for package in pip_packages or []:
            deps.add_pip_package(package)
        return deps

    # ---- editing ---------------------------------------------------------------------
    def add_pip_package(self, pip_package: str) -> None:
        if pip_package.strip().startswith("-"):  # an option line, e.g. from a requirements file
            if pip_package.strip() not in self._pip_options:
                self._pip_options.append(pip_package.strip())
            return
        name = re.split(r"[=<>!~\[;\s]", pip_package, maxsplit=1)[0].lower()
        self._pip = [p for p in self._pip if re.split(r"[=<>!~\[;\s]", p, maxsplit=1)[0].lower() != name]
        self._pip.append(pip_package.strip())

    def remove_pip_package(self, pip_package: str) -> None:
        name = re.split(r"[=<>!~\[;\s]", pip_package, maxsplit=1)[0].lower()
        self._pip = [p for p in self._pip if re.split(r"[=<>!~\[;\s]", p, maxsplit=1)[0].lower() != name]

    def add_conda_package(self, conda_package: str) -> None:
        name = conda_package_name(conda_package)
        self._conda = [c for c in self._conda if conda_package_name(c) != name]
        self._conda.append(conda_package.strip())

    def remove_conda_package(self, conda_package: str) -> None:
        name = conda_package_name(conda_package)
        self._conda = [c for c in self._conda if conda_package_name(c) != name]

    def add_channel(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.append(channel)

    def set_pip_option(self, pip_option: str) -> None:
        """Add a pip option line (Azure's semantics: one line per option flag, a later one
        replaces it). Runyard's server accepts ``--extra-index-url``/``--index-url`` of
        an index its admins allow, and refuses others naming the option."""
        option = pip_option.strip()
        if not option.startswith("-"):
            raise UserErrorException(f"Invalid pip option {pip_option}")
        flag = option.split()[0].split("=")[0]
        same = [i for i, o in enumerate(self._pip_options) if o.split()[0].split("=")[0] == flag]
        if same:
            self._pip_options[same[0]] = option
        else:
            self._pip_options.append(option)

    def remove_pip_option(self, pip_option: str) -> None:
        flag = pip_option.strip().split()[0].split("=")[0] if pip_option.strip() else ""
        self._pip_options = [o for o in self._pip_options if o.split()[0].split("=")[0] != flag]

    def set_pip_index_url(self, index_url: str) -> None:
        self.set_pip_option(index_url if index_url.startswith("-") else f"--index-url {index_url}")

    @property
    def pip_options(self) -> list[str]:
        return list(self._pip_options)

    def set_python_version(self, version: str) -> None:
        self.add_conda_package(f"python={version}")

    # ---- reading ---------------------------------------------------------------------
    @property
    def pip_packages(self) -> list[str]:
        return list(self._pip)

    @property
    def conda_packages(self) -> list[str]:
        return list(self._conda)

    def get_python_version(self) -> str | None:
        for package in self._conda:
            match = re.match(r"^python(?:\s*=+\s*|\s+)(3\.\d+(?:\.\d+)?)", package.strip())
            if match:
                return match.group(1)
        return None

    def conda_specification(self) -> str:
        """The conda part the server builds (channels and conda packages; Python and
        the pip packages travel as their own spec fields): '' when there is none."""
        packages = [c for c in self._conda if conda_package_name(c) != "python"]
        if not packages:
            return ""
        lines = []
        if self.channels:
            lines.append("channels:")
            lines.extend(f"  - {c}" for c in self.channels)
        lines.append("dependencies:")
        lines.extend(f"  - {c}" for c in packages)
        return "\n".join(lines) + "\n"

    def serialize_to_string(self) -> str:
        lines = [f"name: {self.name or 'project_environment'}"]
        if self.channels:
            lines.append("channels:")
            lines.extend(f"  - {c}" for c in self.channels)
        lines.append("dependencies:")
        lines.extend(f"  - {c}" for c in self._conda)
        if self._pip or self._pip_options:
            lines.append("  - pip:")
            lines.extend(f"    - {p}" for p in [*self._pip_options, *self._pip])
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike[str]) -> Path:
        target = Path(path)
        target.write_text(self.serialize_to_string())
        return target

    def __repr__(self) -> str:
        return f"CondaDependencies(conda={self._conda!r}, pip={self._pip!r})"
