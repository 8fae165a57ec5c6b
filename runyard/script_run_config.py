"""ScriptRunConfig: a source directory + script + arguments + compute target + environment.

Arguments may hold dataset inputs (``ds.as_named_input('x').as_mount()``), DataReferences
(``datastore.path('p').as_mount()``) or ``str()`` of a DataReference listed in
``run_config.data_references``: each becomes an input object the server turns into the
local path the script receives in that position.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import TYPE_CHECKING, Any

from runyard.compute import target_name
from runyard.dataset import DatasetConsumptionConfig, FileDataset
from runyard.datastore import REFERENCE_PREFIX, DataReference
from runyard.exceptions import UserErrorException
from runyard.output_dataset import OutputFileDatasetConfig
from runyard.runconfig import DistributedConfig, RunConfiguration

if TYPE_CHECKING:
    from runyard.environment import Environment

AZURE_DEFAULT_MAX_DURATION = 2592000  # 30 days, Azure's default


class ScriptRunConfig:
    """What to run and where. ``.run_config`` exposes environment, target, data_references, node_count…"""

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        script: str | None = None,
        arguments: list[Any] | None = None,
        run_config: RunConfiguration | None = None,
        _telemetry_values: Any = None,
        compute_target: Any = None,
        environment: Environment | str | None = None,
        distributed_job_config: DistributedConfig | None = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = AZURE_DEFAULT_MAX_DURATION,
        command: list[str] | str | None = None,
        docker_runtime_config: Any = None,
        *,
        priority: str | None = None,
        preemptible: bool | None = None,
    ) -> None:
        if not script and not command:
            raise UserErrorException("ScriptRunConfig needs a script (or a command).")
        if script and command:
            raise UserErrorException("Give either script or command, not both.")
        self.source_directory = os.fspath(source_directory)
        self.run_config = run_config or RunConfiguration()
        self.run_config.script = script
        if arguments is not None:
            self.run_config.arguments = list(arguments)
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        if distributed_job_config is not None:
            self.run_config.distributed_job_config = distributed_job_config
            self.run_config.node_count = distributed_job_config.node_count
        if max_run_duration_seconds is not None:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        self.run_config.command = command
        # Runyard's own (Azure ML v1 has no queue priority): low, normal, high or urgent,
        # up to the team's cap on the target; None: normal.
        self.priority = priority
        # Runyard's: the scheduler may preempt the run (SIGTERM, grace) for a higher-priority
        # or under-share run and resume it later (run.on_preempt, RUNYARD_CHECKPOINT_DIR).
        # None: run_config.preemptible (default False).
        if preemptible is not None:
            self.run_config.preemptible = bool(preemptible)
        if resume_from is not None:
            warnings.warn("resume_from is not supported by Runyard and is ignored.", stacklevel=2)

    # Azure exposes these on the ScriptRunConfig itself as well.
    @property
    def script(self) -> str | None:
        return self.run_config.script

    @property
    def arguments(self) -> list[Any]:
        return self.run_config.arguments

    @arguments.setter
    def arguments(self, value: list[Any]) -> None:
        self.run_config.arguments = list(value)

    @property
    def distributed_job_config(self) -> DistributedConfig | None:
        return self.run_config.distributed()

    def __repr__(self) -> str:
        return f"ScriptRunConfig(source_directory={self.source_directory!r}, run_config={self.run_config!r})"

    # ---- what the server receives ---------------------------------------------------------
    def api_arguments(self) -> list[Any]:
        return arguments_for_api(self.run_config.arguments, self.run_config.data_references, self.run_config.data)

    def api_command(self) -> list[str]:
        command = self.run_config.command
        if not command:
            return []
        if isinstance(command, str):
            import shlex

            return shlex.split(command)
        return [str(c) for c in command]

    def api_target(self) -> str:
        return target_name(self.run_config.target)


def _input_of(value: Any) -> dict[str, Any] | None:
    from runyard.model import Model, ModelInput

    if isinstance(value, DatasetConsumptionConfig | DataReference | OutputFileDatasetConfig | Model | ModelInput):
        return value.to_input()
    if isinstance(value, FileDataset) or getattr(value, "is_tabular", False):
        return value.as_mount().to_input()
    return None


def arguments_for_api(
    arguments: list[Any], data_references: dict[str, Any] | None = None, data: dict[str, Any] | None = None
) -> list[Any]:
    """Plain values as strings/numbers, inputs as input objects; warn about inputs the script cannot see."""
    references: dict[str, DataReference] = {}
    for key, ref in (data_references or {}).items():
        if not isinstance(ref, DataReference):
            raise UserErrorException(f"data_references['{key}'] must be a DataReference (datastore.path(...)).")
        references[ref.data_reference_name] = ref
    out: list[Any] = []
    used: set[str] = set()
    for index, value in enumerate(arguments):
        as_input = _input_of(value)
        if as_input is not None:
            used.add(as_input.get("name") or as_input.get("output") or as_input.get("model") or "")
            out.append(as_input)
            continue
        if isinstance(value, bool) or value is None:
            out.append(str(value))
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                out.append(str(value))
            else:
                out.append(value)
        else:
            text = str(value)
            if text.startswith(REFERENCE_PREFIX) and text[len(REFERENCE_PREFIX) :] in references:
                ref = references[text[len(REFERENCE_PREFIX) :]]
                used.add(ref.data_reference_name)
                out.append(ref.to_input())
            elif REFERENCE_PREFIX in text:
                raise UserErrorException(
                    f"arguments[{index}] = {text!r}: a DataReference must be its own argument (e.g. "
                    "['--data', str(ref)]) and listed in run_config.data_references."
                )
            else:
                out.append(text)
    unused = [name for name in (*references, *(data or {})) if name not in used]
    if unused:
        warnings.warn(
            f"Inputs {', '.join(unused)} are not in the run's arguments, so the script would not receive their "
            "paths; pass them in arguments (e.g. ['--data', ref]). They are not sent.",
            stacklevel=3,
        )
    return out
