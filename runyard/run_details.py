"""Azure's shape of a run's details (``run.get_details()``, ``get_details_with_logs()``) built
from Runyard's run record, and the names of its log files.

Azure names a run's logs ``user_logs/std_log.txt`` (``std_log_process_N.txt`` per process
of a distributed run) and keeps its own under ``system_logs/``; Runyard stores one log
whose lines carry their rank, served a rank at a time (``logs/download/?rank=N``), so each
name maps to a rank: rank -1 is Runyard's own lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SYSTEM_RANK = -1
SYSTEM_LOG = "system_logs/runyard.txt"


@dataclass(frozen=True)
class LogFile:
    """One of a run's log files as Azure names it, and the rank whose lines it holds."""

    name: str
    rank: int


def log_files(raw: dict[str, Any], ranks: list[int]) -> list[LogFile]:
    """The log files of a run record, given the ranks of its processes (none yet: rank 0's
    file for a single-process run, as it will be once it starts). An interactive run has no
    process and so no log."""
    if raw.get("interactive"):
        return []
    known = sorted(set(ranks))
    if not raw.get("distributed") and known in ([], [0]):
        users = [LogFile("user_logs/std_log.txt", 0)]
    else:
        users = [LogFile(f"user_logs/std_log_process_{rank}.txt", rank) for rank in known]
    return [*users, LogFile(SYSTEM_LOG, SYSTEM_RANK)]


def azure_details(raw: dict[str, Any], inputs: list[dict[str, Any]], log_contents: dict[str, str]) -> dict[str, Any]:
    """Azure's keys (runId, target, status, startTimeUtc, endTimeUtc once ended, properties,
    inputDatasets, runDefinition, logFiles, submittedBy) plus Runyard's own: experiment,
    error, exitCode, tags, portalUrl and ``runyard``, the raw record."""
    details: dict[str, Any] = {
        "runId": str(raw.get("id")),
        "status": raw.get("status"),
        "target": raw.get("compute_target"),
        "experiment": raw.get("experiment"),
        "startTimeUtc": raw.get("running_at"),
    }
    if raw.get("ended_at"):  # as in Azure: no endTimeUtc while the run is in progress
        details["endTimeUtc"] = raw["ended_at"]
    details.update(
        {
            "properties": dict(raw.get("properties") or {}),
            "error": raw.get("error") or None,
            "exitCode": raw.get("exit_code"),
            "tags": raw.get("tags", {}),
            "inputDatasets": inputs,
            "runDefinition": {
                "script": raw.get("script"),
                "command": raw.get("command"),
                "arguments": raw.get("arguments"),
                "environment": raw.get("environment_version") or raw.get("environment"),
                "distributed": raw.get("distributed"),
                "maxRunDurationSeconds": raw.get("max_run_duration_seconds"),
            },
            "logFiles": log_contents,
            "submittedBy": raw.get("submitted_by"),
            "portalUrl": raw.get("portal_url"),
            "runyard": raw,
        }
    )
    return details
