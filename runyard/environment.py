"""Environments, as in ``azureml.core.Environment``: a name plus immutable, numbered versions.

What a version holds (its *spec*): the Python version, pip requirements, conda packages
and channels (the server installs them from PyPI, see ``runyard.conda_dependencies``),
whether dependencies are user-managed, a Docker base image or Dockerfile, and
environment variables. ``register()`` always adds a version;
submitting a run with an environment that has not changed since it was fetched or
registered pins that version, and a changed one is registered first (as Azure does).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.conda_dependencies import DEFAULT_PYTHON, CondaDependencies, parse_environment_yaml
from runyard.exceptions import UserErrorException

if TYPE_CHECKING:
    from runyard.environment_build import EnvironmentBuild
    from runyard.workspace import Workspace

CURATED_PREFIX = "Runyard-"


class PythonSection:
    """``env.python``: the packages (``conda_dependencies``) and how Python is provided.

    ``user_managed_dependencies = True``, as in Azure: nothing is installed; the run uses
    the worker's interpreter for the Python version (in a container: the image's) with
    the packages it already has. ``interpreter_path`` is accepted and not used."""

    def __init__(self) -> None:
        self.conda_dependencies = CondaDependencies.create()
        self.user_managed_dependencies = False
        self.interpreter_path = "python"

    def __repr__(self) -> str:
        return f"PythonSection(conda_dependencies={self.conda_dependencies!r})"


class DockerSection:
    """``env.docker``: a base image or a Dockerfile (used by container compute targets)."""

    def __init__(self) -> None:
        self.base_image: str | None = None
        self.base_dockerfile: str | None = None
        self.enabled = False  # accepted for Azure compatibility; the compute target decides
        self.shm_size: str | None = None
        self.arguments: list[str] = []

    def __repr__(self) -> str:
        return f"DockerSection(base_image={self.base_image!r}, base_dockerfile={bool(self.base_dockerfile)})"


def read_pip_requirements(file_path: str | os.PathLike[str], _seen: set[Path] | None = None) -> list[str]:
    """Requirement lines of a requirements.txt (``-r`` includes followed). Index options
    (``--index-url``, ``--extra-index-url``, ``-i``, ``--trusted-host``) are kept for the
    server, which accepts those of the indexes its admins allow; other options are ignored."""
    path = Path(file_path).resolve()
    if not path.is_file():
        raise UserErrorException(f"Requirements file not found: {path}")
    seen = _seen if _seen is not None else set()
    if path in seen:
        return []
    seen.add(path)
    out: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            out.extend(read_pip_requirements(path.parent / line.split(None, 1)[1], seen))
        elif line.startswith(("--index-url", "--extra-index-url", "-i ", "--trusted-host")):
            out.append(line)
        elif line.startswith("-") and not line.startswith(("-e ", "--editable ")):
            warnings.warn(
                f"{path.name}: '{line}' ignored: only index options are passed to the Runyard server.", stacklevel=3
            )
        else:
            out.append(line)
    return out


class Environment:
    """A named, versioned run environment. ``Environment('my-env')`` starts an unregistered one."""

    def __init__(self, name: str) -> None:
        if not name:
            raise UserErrorException("An environment needs a name.")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        # Names whose values the server keeps write-only (besides names that look
        # secret, which it treats so by itself). Read back, such a value is "***";
        # registering "***" again keeps the server's value.
        self.secret_variables: set[str] = set()
        # Runyard's allowed package indexes by name (GET /api/package-indexes/): searched
        # besides the server's, and one replacing its default index.
        self.package_indexes: list[str] = []
        self.default_index = ""
        self.description = ""
        self.curated = False
        self._workspace: Workspace | None = None
        self._env_id: int | None = None
        self._version_id: int | None = None
        self._content_hash: str | None = None
        self._fingerprint: dict[str, Any] | None = None
        self._is_placeholder = False  # RunConfiguration's default: "the server's default environment"

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version!r})"

    # ---- the spec sent to the server -------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        """The server's spec for this environment (the server refuses conda packages
        that PyPI cannot provide)."""
        deps = self.python.conda_dependencies
        if self.docker.base_image and self.docker.base_dockerfile:
            raise UserErrorException("Set either env.docker.base_image or env.docker.base_dockerfile, not both.")
        spec: dict[str, Any] = {
            "python_version": deps.get_python_version() or DEFAULT_PYTHON,
            "pip_requirements": [*deps.pip_options, *deps.pip_packages],
            "conda_specification": deps.conda_specification(),
            "docker_base_image": self.docker.base_image or "",
            "dockerfile": self.docker.base_dockerfile or "",
            "environment_variables": {str(k): str(v) for k, v in sorted(self.environment_variables.items())},
        }
        secret = sorted(n for n in self.secret_variables if n in self.environment_variables)
        if secret:
            spec["secret_variables"] = secret
        if self.python.user_managed_dependencies:
            spec["user_managed_dependencies"] = True
        if self.package_indexes:
            spec["package_indexes"] = list(self.package_indexes)
        if self.default_index:
            spec["default_index"] = self.default_index
        return spec

    def is_unchanged(self) -> bool:
        """True when this object still matches the version it was fetched or registered as."""
        return self.version is not None and self._fingerprint is not None and self._fingerprint == self.to_spec()

    def _load_spec(self, spec: dict[str, Any]) -> None:
        deps = CondaDependencies.create(python_version=str(spec.get("python_version") or DEFAULT_PYTHON))
        conda_text = spec.get("conda_specification") or ""
        if conda_text:
            _, channels, conda, pip = parse_environment_yaml(conda_text)
            deps.channels = channels
            for package in conda:
                deps.add_conda_package(package)
            for package in pip:
                deps.add_pip_package(package)
        for package in spec.get("pip_requirements") or []:
            deps.add_pip_package(package)
        self.python.conda_dependencies = deps
        self.python.user_managed_dependencies = bool(spec.get("user_managed_dependencies"))
        self.package_indexes = list(spec.get("package_indexes") or [])
        self.default_index = spec.get("default_index") or ""
        self.docker.base_image = spec.get("docker_base_image") or None
        self.docker.base_dockerfile = spec.get("dockerfile") or None
        self.environment_variables = dict(spec.get("environment_variables") or {})
        self.secret_variables = set(spec.get("secret_variables") or [])

    @classmethod
    def _from_api(cls, item: dict[str, Any], version: dict[str, Any] | None, workspace: Workspace) -> Environment:
        env = cls(item["name"])
        env._workspace = workspace
        env._env_id = item["id"]
        env.curated = bool(item.get("curated"))
        env.description = item.get("description") or ""
        if version is not None:
            env._load_spec(version.get("spec") or {})
            env.version = str(version["version"])
            env._version_id = version.get("id")
            env._content_hash = version.get("content_hash")
            env._fingerprint = env.to_spec()
        return env

    # ---- constructors (Azure's) --------------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, name: str, version: str | int | None = None, label: str | None = None) -> Environment:
        """A registered environment (your team's or curated), latest version unless ``version`` is given."""
        item = workspace.client.first("/api/environments/", name=name)
        if item is None:
            known = ", ".join(sorted(e["name"] for e in workspace.client.paged("/api/environments/")))
            raise UserErrorException(f"No environment named '{name}'. Known environments: {known or 'none'}.")
        chosen = item.get("latest_version")
        if version is not None:
            versions = workspace.client.get(f"/api/environments/{item['id']}/versions/")
            versions = versions.get("results", versions) if isinstance(versions, dict) else versions
            chosen = next((v for v in versions if str(v["version"]) == str(version)), None)
            if chosen is None:
                have = ", ".join(str(v["version"]) for v in versions)
                raise UserErrorException(f"Environment '{name}' has no version {version} (versions: {have}).")
        return Environment._from_api(item, chosen, workspace)

    @staticmethod
    def list(workspace: Workspace) -> dict[str, Environment]:
        return workspace.environments

    @staticmethod
    def from_pip_requirements(
        name: str, file_path: str | os.PathLike[str], pip_version: str | None = None
    ) -> Environment:
        env = Environment(name)
        for requirement in read_pip_requirements(file_path):
            env.python.conda_dependencies.add_pip_package(requirement)
        return env

    @staticmethod
    def from_conda_specification(name: str, file_path: str | os.PathLike[str]) -> Environment:
        """An environment.yml: its Python version, conda packages (installed from PyPI,
        translated by the server), channels and pip section."""
        deps = CondaDependencies(conda_dependencies_file_path=file_path)
        env = Environment(name)
        if deps.get_python_version() is None:
            deps.set_python_version(DEFAULT_PYTHON)
        env.python.conda_dependencies = deps
        return env

    @staticmethod
    def from_dockerfile(
        name: str,
        dockerfile: str | os.PathLike[str],
        conda_specification: str | None = None,
        pip_requirements: str | None = None,
    ) -> Environment:
        """``dockerfile`` is a path to a Dockerfile or the Dockerfile's text."""
        env = Environment(name)
        text = str(dockerfile)
        if "\n" not in text and Path(text).is_file():
            text = Path(text).read_text()
        env.docker.base_dockerfile = text
        env._add_files(conda_specification, pip_requirements)
        return env

    @staticmethod
    def from_docker_image(
        name: str,
        image: str,
        container_registry: Any = None,
        conda_specification: str | None = None,
        pip_requirements: str | None = None,
    ) -> Environment:
        env = Environment(name)
        env.docker.base_image = image
        env._add_files(conda_specification, pip_requirements)
        return env

    @staticmethod
    def from_existing_conda_environment(name: str, conda_environment_name: str) -> Environment:
        raise UserErrorException(
            "Runyard cannot copy a local conda environment; export its pip packages "
            "(pip freeze > requirements.txt) and use Environment.from_pip_requirements()."
        )

    def _add_files(self, conda_specification: str | None, pip_requirements: str | None) -> None:
        if conda_specification:
            deps = CondaDependencies(conda_dependencies_file_path=conda_specification)
            self.python.conda_dependencies = deps
        if pip_requirements:
            for requirement in read_pip_requirements(pip_requirements):
                self.python.conda_dependencies.add_pip_package(requirement)

    def clone(self, new_name: str) -> Environment:
        """An unregistered copy under a new name (how to customise a curated environment)."""
        twin = copy.deepcopy(self)
        twin.name = new_name
        twin.version = None
        twin.curated = False
        twin._env_id = twin._version_id = None
        twin._content_hash = None
        twin._fingerprint = None
        twin._is_placeholder = False
        return twin

    # ---- server operations -----------------------------------------------------------
    def register(self, workspace: Workspace) -> Environment:
        """Register this definition as the environment's next version (creating the environment if new)."""
        if self.name.startswith(CURATED_PREFIX) and not self.curated:
            raise UserErrorException(
                f"Names beginning with '{CURATED_PREFIX}' are reserved for curated environments; "
                "use env.clone('my-name') to customise one."
            )
        spec = self.to_spec()
        client = workspace.client
        existing = client.first("/api/environments/", name=self.name)
        if existing is None:
            created = client.post(
                "/api/environments/", {"name": self.name, "spec": spec, "description": self.description}
            )
            version = created["latest_version"]
            item = created
        else:
            if existing.get("curated") and not self.curated:
                raise UserErrorException(
                    f"'{self.name}' is a curated environment: only admins change it. "
                    "Use env.clone('my-name') and register the clone."
                )
            version = client.post(f"/api/environments/{existing['id']}/versions/", {"spec": spec})
            item = existing
        registered = Environment._from_api(item, version, workspace)
        self.__dict__.update(registered.__dict__)
        return self

    def build(self, workspace: Workspace, image_build_compute: Any = None) -> EnvironmentBuild:
        """Build (or find the cached build of) this environment; ``.wait_for_completion(show_output=True)``.

        ``image_build_compute``: the compute target (its name or a ``ComputeTarget``) to
        build on, as in Azure ML; the server's default (``local``) when omitted."""
        from runyard.environment_build import start_build

        if not self.is_unchanged() or self._workspace != workspace:
            self.register(workspace)
        assert self._version_id is not None and self._content_hash is not None
        target = getattr(image_build_compute, "name", image_build_compute)
        return start_build(workspace, self._version_id, self._content_hash, compute_target=target)

    def build_local(self, workspace: Workspace, **kwargs: Any) -> EnvironmentBuild:
        return self.build(workspace)

    def reference(self, workspace: Workspace) -> str:
        """``NAME:VERSION`` to submit with, registering a new or changed definition first."""
        if self.is_unchanged() and self._workspace == workspace:
            return f"{self.name}:{self.version}"
        if self.curated or self.name.startswith(CURATED_PREFIX):
            if self.is_unchanged():
                return f"{self.name}:{self.version}"
            raise UserErrorException(
                f"Curated environment '{self.name}' was changed; curated environments are "
                "read-only. Use env.clone('my-name') to customise it."
            )
        existing = workspace.client.first("/api/environments/", name=self.name)
        if existing and existing.get("latest_version"):
            latest = Environment._from_api(existing, existing["latest_version"], workspace)
            if latest._fingerprint == self.to_spec():
                self.__dict__.update(latest.__dict__)
                return f"{self.name}:{self.version}"
        self.register(workspace)
        return f"{self.name}:{self.version}"
