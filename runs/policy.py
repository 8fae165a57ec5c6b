"""What a run does about failing: retries per cause and the hang watchdog.

A ``FailurePolicy`` may be given on a run (``failure_policy`` in the submit body), on
its environment and on its compute target (both ``failure_policy``, admin-set defaults):

    {"max_retries": {"node_lost": 3, "preempted": 3}, "hang_timeout_seconds": 600}

The run's own keys win, then the environment's, then the target's; a cause missing
everywhere is never retried, and the hang watchdog is off unless a timeout is set.
The merge happens once, at submission: the run stores the policy it got, so a later
edit of a default does not change a run already queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.errors import InvalidInput
from runs.causes import Cause

# Retrying these would only repeat what the user or Runyard itself decided.
NEVER_RETRIED = frozenset({Cause.CANCELED})
MAX_RETRIES_LIMIT = 20


@dataclass(frozen=True)
class FailurePolicy:
    max_retries: dict[str, int] = field(default_factory=dict)  # cause -> retries
    hang_timeout_seconds: int | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.max_retries:
            out["max_retries"] = dict(sorted(self.max_retries.items()))
        if self.hang_timeout_seconds:
            out["hang_timeout_seconds"] = self.hang_timeout_seconds
        return out

    def retries_for(self, cause: str) -> int:
        return self.max_retries.get(cause, 0)

    def over(self, default: FailurePolicy) -> FailurePolicy:
        """This policy with ``default`` filling what it leaves unset."""
        return FailurePolicy(
            {**default.max_retries, **self.max_retries},
            self.hang_timeout_seconds or default.hang_timeout_seconds,
        )


def parse(raw: Any, where: str = "failure_policy") -> FailurePolicy:
    """A policy from JSON; InvalidInput naming the key on anything else."""
    if raw in (None, ""):
        return FailurePolicy()
    if not isinstance(raw, dict):
        raise InvalidInput({where: ["Must be an object with max_retries and/or hang_timeout_seconds."]})
    unknown = set(raw) - {"max_retries", "hang_timeout_seconds"}
    if unknown:
        raise InvalidInput({f"{where}.{sorted(unknown)[0]}": ["Unknown key."]})
    retries = raw.get("max_retries") or {}
    if not isinstance(retries, dict):
        raise InvalidInput({f"{where}.max_retries": ['Must map causes to counts, e.g. {"node_lost": 3}.']})
    parsed: dict[str, int] = {}
    for cause, count in retries.items():
        key = f"{where}.max_retries.{cause}"
        if cause not in Cause.values:
            raise InvalidInput({key: [f"Unknown cause. Causes: {', '.join(Cause.values)}."]})
        if cause in NEVER_RETRIED:
            raise InvalidInput({key: ["A canceled run is never retried."]})
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_RETRIES_LIMIT:
            raise InvalidInput({key: [f"Must be an integer from 0 to {MAX_RETRIES_LIMIT}."]})
        parsed[cause] = count
    hang = raw.get("hang_timeout_seconds")
    if hang is not None and (isinstance(hang, bool) or not isinstance(hang, int) or hang < 1):
        raise InvalidInput({f"{where}.hang_timeout_seconds": ["Must be a positive number of seconds."]})
    return FailurePolicy(parsed, hang)


def effective(requested: Any, environment: Any, target: Any) -> FailurePolicy:
    """The run's policy: its own keys over the environment's over the target's."""
    return (
        parse(requested)
        .over(parse(environment, "environment.failure_policy"))
        .over(parse(target, "compute_target.failure_policy"))
    )
