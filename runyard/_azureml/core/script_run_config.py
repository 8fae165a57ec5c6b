"""``azureml.core.script_run_config``."""

from runyard.script_run_config import ScriptRunConfig

__all__ = ["ScriptRunConfig"]
