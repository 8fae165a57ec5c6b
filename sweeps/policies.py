"""Early termination policies with Azure HyperDrive's semantics. Pure: curves in, verdict out.

A child's *curve* is its primary metric's values in the order it logged them; the n-th
value is *interval* n (Azure: "each time the training script logs the primary metric
counts as one interval"). A policy is applied to a child at every interval n with
``n % evaluation_interval == 0`` and ``n >= delay_evaluation``, comparing it with the
other children of the sweep *at the same interval* (so a young child is never judged
against what older children reached later). A run's *score at n* is its best value over
intervals 1..n (max when maximizing, min when minimizing).

- **Bandit** (``slack_factor`` or ``slack_amount``): let ``best`` be the best score at n
  among all children that reached n. Maximizing, the child stops when its score is below
  ``best / (1 + slack_factor)`` (or ``best - slack_amount``); minimizing, when above
  ``best * (1 + slack_factor)`` (or ``best + slack_amount``).
- **MedianStopping**: the child stops when its score at n is worse than the median of the
  other children's running averages over intervals 1..n (children that reached n).
- **TruncationSelection** (``truncation_percentage``): the children that reached n are
  ranked by score at n; the lowest ``floor(count * pct / 100)`` stop — the child if it is
  among them (finished children count in the ranking, Azure's ``exclude_finished_jobs``
  False).
- **Default** (``NoTerminationPolicy``): never stops anything.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import InvalidInput

BANDIT = "Bandit"
MEDIAN = "MedianStopping"
TRUNCATION = "TruncationSelection"
DEFAULT = "Default"
NAMES = {"bandit": BANDIT, "medianstopping": MEDIAN, "truncationselection": TRUNCATION, "default": DEFAULT}
# The names Azure's SDK classes carry, for termination reasons people recognise.
CLASS_NAMES = {
    BANDIT: "BanditPolicy",
    MEDIAN: "MedianStoppingPolicy",
    TRUNCATION: "TruncationSelectionPolicy",
    DEFAULT: "NoTerminationPolicy",
}


@dataclass(frozen=True)
class PolicyConfig:
    name: str = DEFAULT
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    slack_factor: float | None = None
    slack_amount: float | None = None
    truncation_percentage: int | None = None

    def to_json(self) -> dict[str, Any]:
        if self.name == DEFAULT:
            return {"name": DEFAULT}
        props: dict[str, Any] = {
            "evaluation_interval": self.evaluation_interval,
            "delay_evaluation": self.delay_evaluation,
        }
        if self.slack_factor is not None:
            props["slack_factor"] = self.slack_factor
        if self.slack_amount is not None:
            props["slack_amount"] = self.slack_amount
        if self.truncation_percentage is not None:
            props["truncation_percentage"] = self.truncation_percentage
        return {"name": self.name, "properties": props}


def _int(props: dict[str, Any], key: str, default: int, where: str, minimum: int) -> int:
    value = props.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput({f"{where}.{key}": [f"Must be an integer ≥ {minimum}."]})
    return value


def parse_policy(raw: Any, where: str = "policy") -> PolicyConfig:
    """Azure's ``policy.to_json()``: ``{"name": "Bandit", "properties": {...}}``; null means Default."""
    if raw is None:
        return PolicyConfig()
    if not isinstance(raw, dict):
        raise InvalidInput({where: ['Use {"name": "Bandit"|"MedianStopping"|"TruncationSelection"|"Default", ...}.']})
    name = NAMES.get(str(raw.get("name", "")).lower())
    if name is None:
        raise InvalidInput({f"{where}.name": ["Use Bandit, MedianStopping, TruncationSelection or Default."]})
    if name == DEFAULT:
        return PolicyConfig()
    props = raw.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidInput({f"{where}.properties": ["Must be an object."]})
    interval = _int(props, "evaluation_interval", 1, where, 1)
    delay = _int(props, "delay_evaluation", 0, where, 0)
    if name == BANDIT:
        factor, amount = props.get("slack_factor"), props.get("slack_amount")
        if (factor is None) == (amount is None):
            raise InvalidInput({f"{where}.slack_factor": ["Give exactly one of slack_factor and slack_amount."]})
        for key, value in (("slack_factor", factor), ("slack_amount", amount)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0
            ):
                raise InvalidInput({f"{where}.{key}": ["Must be a number ≥ 0."]})
        return PolicyConfig(
            BANDIT,
            interval,
            delay,
            slack_factor=float(factor) if factor is not None else None,
            slack_amount=float(amount) if amount is not None else None,
        )
    if name == TRUNCATION:
        pct = props.get("truncation_percentage")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 1 <= pct <= 99:
            raise InvalidInput({f"{where}.truncation_percentage": ["Must be an integer from 1 to 99."]})
        return PolicyConfig(TRUNCATION, interval, delay, truncation_percentage=pct)
    return PolicyConfig(MEDIAN, interval, delay)


def due(policy: PolicyConfig, after: int, reached: int) -> list[int]:
    """The intervals in (after, reached] at which the policy is applied."""
    if policy.name == DEFAULT:
        return []
    return [
        n for n in range(after + 1, reached + 1) if n % policy.evaluation_interval == 0 and n >= policy.delay_evaluation
    ]


def score(curve: Sequence[float], n: int, maximize: bool) -> float:
    head = curve[:n]
    return max(head) if maximize else min(head)


def verdict(
    policy: PolicyConfig, maximize: bool, curve: Sequence[float], others: Sequence[Sequence[float]], n: int
) -> str | None:
    """Why the child with ``curve`` stops at interval ``n`` (None: it goes on).

    ``others`` are the other children's curves (running or finished)."""
    if policy.name == DEFAULT or len(curve) < n:
        return None
    mine = score(curve, n, maximize)
    peers = [c for c in others if len(c) >= n]
    if policy.name == BANDIT:
        return _bandit(policy, maximize, mine, [score(c, n, maximize) for c in peers], n)
    if not peers:
        return None
    if policy.name == MEDIAN:
        median = statistics.median(sum(c[:n]) / n for c in peers)
        worse = mine < median if maximize else mine > median
        return (
            f"best value {mine:g} is worse than the median running average {median:g} at interval {n}"
            if worse
            else None
        )
    return _truncation(policy, maximize, mine, [score(c, n, maximize) for c in peers], n)


def _bandit(policy: PolicyConfig, maximize: bool, mine: float, peers: list[float], n: int) -> str | None:
    best = max([mine, *peers]) if maximize else min([mine, *peers])
    if policy.slack_factor is not None:
        limit = best / (1 + policy.slack_factor) if maximize else best * (1 + policy.slack_factor)
        slack = f"slack_factor {policy.slack_factor:g}"
    else:
        amount = policy.slack_amount or 0.0
        limit = best - amount if maximize else best + amount
        slack = f"slack_amount {policy.slack_amount:g}"
    outside = mine < limit if maximize else mine > limit
    if not outside:
        return None
    return f"value {mine:g} is outside the {slack} of the best {best:g} (limit {limit:g}) at interval {n}"


def _truncation(policy: PolicyConfig, maximize: bool, mine: float, peers: list[float], n: int) -> str | None:
    everyone = len(peers) + 1
    cut = math.floor(everyone * (policy.truncation_percentage or 0) / 100)
    if cut == 0:
        return None
    # Rank from the worst; ties count against the child (it is not better than them).
    worse_than_me = sum(1 for p in peers if (p < mine if maximize else p > mine))
    if worse_than_me >= cut:
        return None
    pct = policy.truncation_percentage
    return f"value {mine:g} is in the lowest {pct}% of {everyone} runs at interval {n}"


def describe(policy: PolicyConfig) -> str:
    return CLASS_NAMES[policy.name]
