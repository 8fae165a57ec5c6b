"""Writes the ScriptRunConfig + Environment code equivalent to a deprecated Estimator."""

from __future__ import annotations

from typing import Any

from runyard.conda_dependencies import conda_package_name
from runyard.environment import Environment
from runyard.runconfig import DistributedConfig


def value_code(value: Any) -> str:
    to_code = getattr(value, "to_code", None)
    return to_code() if callable(to_code) else repr(value)


def environment_code(env: Environment | str | None, lines: list[str], imports: set[str]) -> str:
    """Append the lines that build ``env``; return the expression to pass as ``environment=``."""
    if env is None:
        return ""
    if isinstance(env, str) or env.curated or env.version is not None:
        name = env if isinstance(env, str) else env.name
        imports.add("Environment")
        lines.append(f"env = Environment.get(ws, name={name!r})")
        return "env"
    imports.update({"Environment", "CondaDependencies"})
    deps = env.python.conda_dependencies
    lines.append(f"env = Environment({env.name!r})")
    python = deps.get_python_version()
    lines.append("env.python.conda_dependencies = CondaDependencies.create(")
    lines.append(f"    python_version={python!r},")
    conda = [c for c in deps.conda_packages if conda_package_name(c) != "python"]
    if conda:
        lines.append(f"    conda_packages={conda!r},")
    lines.append(f"    pip_packages={deps.pip_packages!r},")
    lines.append(")")
    if env.docker.base_image:
        lines.append(f"env.docker.base_image = {env.docker.base_image!r}")
    if env.docker.base_dockerfile:
        lines.append(f"env.docker.base_dockerfile = {env.docker.base_dockerfile!r}")
    if env.environment_variables:
        lines.append(f"env.environment_variables = {dict(env.environment_variables)!r}")
    return "env"


def script_run_config_code(
    *,
    source_directory: str,
    script: str,
    arguments: list[Any],
    compute_target: str,
    environment: Environment | str | None,
    distributed: DistributedConfig | None,
    max_run_duration_seconds: int | None,
    experiment_name: str,
    data_references: dict[str, Any] | None = None,
) -> str:
    imports = {"Experiment", "ScriptRunConfig", "Workspace"}
    body: list[str] = ["ws = Workspace.from_config()", ""]
    env_expr = environment_code(environment, body, imports)
    if env_expr == "env":
        body.append("")
    args = [value_code(a) for a in arguments]
    if any("Dataset." in a for a in args):
        imports.add("Dataset")
    if any("Datastore." in a for a in args) or data_references:
        imports.add("Datastore")
    runconfig_imports = []
    body.append("src = ScriptRunConfig(")
    body.append(f"    source_directory={source_directory!r},")
    body.append(f"    script={script!r},")
    if args:
        body.append(f"    arguments=[{', '.join(args)}],")
    body.append(f"    compute_target={compute_target!r},")
    if env_expr:
        body.append(f"    environment={env_expr},")
    if distributed is not None:
        runconfig_imports.append(type(distributed).__name__)
        body.append(f"    distributed_job_config={distributed.to_code()},")
    if max_run_duration_seconds:
        body.append(f"    max_run_duration_seconds={max_run_duration_seconds},")
    body.append(")")
    for name, ref in (data_references or {}).items():
        body.append(f"src.run_config.data_references[{name!r}] = {value_code(ref)}")
    body.append(f"run = Experiment(ws, {experiment_name!r}).submit(src)")
    body.append("run.wait_for_completion(show_output=True)")
    header = [f"from runyard import {', '.join(sorted(imports))}"]
    if runconfig_imports:
        header.append(f"from runyard.runconfig import {', '.join(sorted(runconfig_imports))}")
    return "\n".join([*header, "", *body]) + "\n"
