"""The deprecated Estimator (``azureml.train.estimator``), bridged onto ScriptRunConfig.

Submitting an Estimator works: its old parameters are mapped onto a ScriptRunConfig
and an Environment, a deprecation warning is issued, and the equivalent new code is
printed so the caller can paste it in place of the Estimator.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runyard.environment import Environment, read_pip_requirements
from runyard.exceptions import UserErrorException
from runyard.runconfig import DistributedConfig
from runyard.script_run_config import ScriptRunConfig
from runyard.train.distributed import DistributedTraining, distributed_config
from runyard.train.migration import script_run_config_code

if TYPE_CHECKING:
    from runyard.experiment import Experiment
    from runyard.run import Run


class EstimatorDeprecationWarning(FutureWarning):
    """Shown by default (unlike DeprecationWarning): Estimators are on their way out."""


def script_params_to_arguments(script_params: dict[str, Any] | None) -> list[Any]:
    """``{'--lr': 0.1, '--verbose': ''}`` → ``['--lr', 0.1, '--verbose']``."""
    arguments: list[Any] = []
    for key, value in (script_params or {}).items():
        arguments.append(key)
        if value is not None and value != "":
            arguments.append(value)
    return arguments


class Estimator:
    """Deprecated: use ScriptRunConfig + Environment (printed for you when you submit this)."""

    DEFAULT_FRAMEWORK_VERSION: str | None = None
    FRAMEWORK_PACKAGE: str | None = None

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        *,
        compute_target: Any = None,
        vm_size: str | None = None,
        vm_priority: str | None = None,
        entry_script: str | None = None,
        script_params: dict[str, Any] | None = None,
        node_count: int = 1,
        process_count_per_node: int = 1,
        distributed_backend: str | None = None,
        distributed_training: DistributedTraining | None = None,
        use_gpu: bool = False,
        use_docker: bool = True,
        custom_docker_base_image: str | None = None,
        custom_docker_image: str | None = None,
        image_registry_details: Any = None,
        user_managed: bool = False,
        conda_packages: list[str] | None = None,
        pip_packages: list[str] | None = None,
        conda_dependencies_file_path: str | None = None,
        pip_requirements_file_path: str | None = None,
        conda_dependencies_file: str | None = None,
        pip_requirements_file: str | None = None,
        environment_variables: dict[str, str] | None = None,
        environment_definition: Environment | None = None,
        inputs: list[Any] | None = None,
        source_directory_data_store: Any = None,
        shm_size: str | None = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = None,
        framework_version: str | None = None,
        **unsupported: Any,
    ) -> None:
        if not entry_script:
            raise UserErrorException("Estimator needs entry_script (the script to run).")
        if unsupported:
            warnings.warn(
                f"Estimator parameters not supported by Runyard, ignored: {', '.join(sorted(unsupported))}",
                stacklevel=2,
            )
        self.source_directory = os.fspath(source_directory)
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self.compute_target = compute_target
        self.node_count = node_count
        self.process_count_per_node = process_count_per_node
        self.distributed_training = distributed_training
        self.distributed_backend = distributed_backend
        self.use_gpu = use_gpu
        self.custom_docker_image = custom_docker_image or custom_docker_base_image
        self.conda_packages = list(conda_packages or [])
        self.pip_packages = list(pip_packages or [])
        for path in (pip_requirements_file_path, pip_requirements_file):
            if path:
                self.pip_packages += read_pip_requirements(
                    Path(self.source_directory) / path if not Path(path).is_absolute() else path
                )
        self.conda_dependencies_file = conda_dependencies_file_path or conda_dependencies_file
        self.environment_variables = dict(environment_variables or {})
        self.environment_definition = environment_definition
        self.inputs = list(inputs or [])
        self.max_run_duration_seconds = max_run_duration_seconds
        self.framework_version = framework_version or self.DEFAULT_FRAMEWORK_VERSION
        self.notes: list[str] = []
        if vm_size or vm_priority:
            self.notes.append("vm_size/vm_priority: choose a compute target (ws.compute_targets) instead.")
        if use_gpu:
            self.notes.append("use_gpu: pick a GPU compute target and a GPU-enabled environment.")

    # ---- the mapping -------------------------------------------------------------------------
    def distributed_job_config(self) -> DistributedConfig | None:
        return distributed_config(
            self.distributed_training, self.distributed_backend, self.node_count, self.process_count_per_node
        )

    def framework_requirement(self) -> str | None:
        if not self.FRAMEWORK_PACKAGE or not self.framework_version:
            return None
        version = self.framework_version
        return (
            f"{self.FRAMEWORK_PACKAGE}=={version}"
            if version.count(".") >= 2
            else f"{self.FRAMEWORK_PACKAGE}=={version}.*"
        )

    def curated_environment(self) -> str | None:
        """A curated environment that has exactly what this Estimator asks for, if any."""
        return None

    def environment(self) -> Environment | str | None:
        if self.environment_definition is not None:
            return self.environment_definition
        wants_packages = bool(self.pip_packages or self.conda_packages or self.conda_dependencies_file)
        curated = self.curated_environment()
        if curated and not wants_packages and not self.custom_docker_image and not self.environment_variables:
            return curated
        framework = self.framework_requirement()
        if not (wants_packages or framework or self.custom_docker_image or self.environment_variables):
            return None
        env = Environment(f"{Path(self.entry_script or 'train').stem.replace('_', '-')}-env")
        if self.conda_dependencies_file:
            spec_path = Path(self.source_directory) / self.conda_dependencies_file
            env = Environment.from_conda_specification(env.name, spec_path)
        deps = env.python.conda_dependencies
        for package in self.conda_packages:
            deps.add_conda_package(package)
        note = f"conda_packages {self.conda_packages} are installed from PyPI (the build log lists how)."
        if self.conda_packages and note not in self.notes:
            self.notes.append(note)
        for requirement in [*([framework] if framework else []), *self.pip_packages]:
            deps.add_pip_package(requirement)
        env.docker.base_image = self.custom_docker_image
        env.environment_variables = dict(self.environment_variables)
        return env

    def _split_inputs(self) -> dict[str, Any]:
        from runyard.datastore import DataReference

        return {ref.data_reference_name: ref for ref in self.inputs if isinstance(ref, DataReference)}

    def to_script_run_config(self) -> ScriptRunConfig:
        """The ScriptRunConfig this Estimator stands for."""
        src = ScriptRunConfig(
            source_directory=self.source_directory,
            script=self.entry_script,
            arguments=script_params_to_arguments(self.script_params),
            compute_target=self.compute_target,
            environment=self.environment(),
            distributed_job_config=self.distributed_job_config(),
            max_run_duration_seconds=self.max_run_duration_seconds,
        )
        src.run_config.data_references = self._split_inputs()
        return src

    def migration_code(self, experiment_name: str = "my-experiment") -> str:
        src = self.to_script_run_config()
        code = script_run_config_code(
            source_directory=self.source_directory,
            script=self.entry_script or "",
            arguments=src.arguments,
            compute_target=src.api_target(),
            environment=src.run_config.environment,
            distributed=src.run_config.distributed(),
            max_run_duration_seconds=self.max_run_duration_seconds,
            experiment_name=experiment_name,
            data_references=src.run_config.data_references,
        )
        notes = "".join(f"# Note: {note}\n" for note in self.notes)
        return notes + code

    def _submit_to(self, experiment: Experiment, tags: dict[str, str] | None = None, **kwargs: Any) -> Run:
        """Called by ``Experiment.submit(estimator)``: warn, print the new code, submit the equivalent run."""
        kind = type(self).__name__
        warnings.warn(
            f"{kind} Estimators are deprecated (as in Azure ML SDK 1.19+): use ScriptRunConfig with an "
            "Environment. The equivalent code is printed below.",
            EstimatorDeprecationWarning,
            stacklevel=4,
        )
        code = self.migration_code(experiment.name)
        print(
            f"{kind} is deprecated. Replace it with this ScriptRunConfig + Environment code:\n"
            + "-" * 72
            + "\n"
            + code
            + "-" * 72,
            file=sys.stdout,
            flush=True,
        )
        return experiment.submit_script_run_config(self.to_script_run_config(), tags=tags, **kwargs)


class PyTorch(Estimator):
    """Deprecated PyTorch estimator; framework_version defaults to Runyard's curated PyTorch."""

    DEFAULT_FRAMEWORK_VERSION = "2.13"
    FRAMEWORK_PACKAGE = "torch"

    def curated_environment(self) -> str | None:
        return "Runyard-PyTorch-2.13-CPU" if self.framework_version in ("2.13", "2.13.0") else None


class TensorFlow(Estimator):
    """Deprecated TensorFlow estimator."""

    DEFAULT_FRAMEWORK_VERSION = "2.16"
    FRAMEWORK_PACKAGE = "tensorflow"
