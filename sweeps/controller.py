"""The sweep controller: one step, run whenever something happened to a sweep.

Algorithm (``advance``), all in one transaction holding the sweep's row lock
(``SELECT … FOR UPDATE``), so two steps never interleave and a step that dies midway
leaves nothing half-done:

1. The parent run is no longer Running (someone canceled it): request cancel of every
   child still going, mark the sweep ended. Past ``max_duration_minutes`` since the
   parent started: the same, and the parent ends Completed.
2. Policy: for each Running child, the intervals of the primary metric it reached since
   the last step that are due (``policies.due``) are judged against every other child
   (``policies.verdict``); a child that fails one is canceled with the policy and its
   reason as the status reason, and remembered as terminated by it.
3. Launch: while fewer than ``max_concurrent_runs`` children are unfinished and fewer
   than ``max_total_runs`` were proposed, the sampler proposes child ``proposed`` from the
   stored history and a child run is submitted (queued on commit). The index is unique per
   sweep in the database, so even without the lock (SQLite) no index runs twice.
4. When nothing is unfinished and nothing more can be proposed, the parent ends Completed.

Every input comes from the database and every decision is written back before commit:
a restarted worker simply runs the next step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import record
from common.errors import InvalidInput
from runs import metricstore
from runs.cancellation import request_cancel
from runs.lifecycle import IllegalTransition, transition
from runs.models import Run
from runs.status import TERMINAL, Status
from runs.submission import Submission, submit
from sweeps import policies
from sweeps.config import SweepConfig, parse_config
from sweeps.models import Sweep, SweepChild
from sweeps.samplers import Trial, propose
from sweeps.space import as_arguments


@dataclass
class Step:
    launched: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)
    ended: str = ""

    def summary(self) -> dict[str, Any]:
        return {"launched": self.launched, "stopped": self.stopped, "ended": self.ended}


def advance(sweep_id: int) -> Step:
    step = Step()
    with transaction.atomic():
        sweep = Sweep.objects.select_for_update().filter(pk=sweep_id).first()
        if sweep is None or sweep.ended_at is not None:
            return step
        parent = Run.objects.select_related("experiment", "submitted_by", "team").get(pk=sweep_id)
        config = parse_config(sweep.config)
        kids = list(SweepChild.objects.filter(sweep=sweep).select_related("run").order_by("index"))
        if parent.status != Status.RUNNING:
            _stop_all(kids, parent, "the sweep was canceled")
            _mark_ended(sweep, step, f"the sweep ended {parent.status}")
            return step
        started = parent.running_at or sweep.created_at
        if timezone.now() >= started + timedelta(minutes=config.max_duration_minutes):
            _stop_all(kids, parent, f"max_duration_minutes ({config.max_duration_minutes}) reached")
            _finish(sweep, parent, step, f"max_duration_minutes ({config.max_duration_minutes}) reached")
            return step
        curves = _curves(kids, config.primary_metric)
        step.stopped = _apply_policy(config, kids, curves, parent)
        unfinished = sum(1 for k in kids if k.run.status not in TERMINAL)
        try:
            while unfinished < config.max_concurrent_runs and sweep.proposed < config.max_total_runs:
                child = _launch(sweep, parent, config, kids, curves)
                if child is None:
                    break
                kids.append(child)
                step.launched.append(child.run_id)
                unfinished += 1
        except InvalidInput as exc:
            # The template no longer submits (environment gone, target disabled): the sweep fails.
            _stop_all(kids, parent, "the sweep failed")
            transition(parent.pk, Status.FAILED, reason="a child could not be submitted", fields={"error": str(exc)})
            _mark_ended(sweep, step, f"a child could not be submitted: {exc}")
            return step
        if unfinished == 0 and (sweep.proposed >= config.max_total_runs or sweep.exhausted):
            why = "max_total_runs reached" if sweep.proposed >= config.max_total_runs else "search space exhausted"
            _finish(sweep, parent, step, why)
    return step


def _curves(kids: list[SweepChild], metric: str) -> dict[int, list[float]]:
    return metricstore.values_by_run([k.run_id for k in kids], metric)


def _apply_policy(
    config: SweepConfig, kids: list[SweepChild], curves: dict[int, list[float]], parent: Run
) -> list[int]:
    policy = config.policy
    stopped: list[int] = []
    if policy.name == policies.DEFAULT:
        return stopped
    for kid in kids:
        curve = curves[kid.run_id]
        if kid.run.status != Status.RUNNING or len(curve) <= kid.evaluated:
            continue
        others = [curves[o.run_id] for o in kids if o.pk != kid.pk and curves[o.run_id]]
        why = None
        for n in policies.due(policy, kid.evaluated, len(curve)):
            why = policies.verdict(policy, config.maximize, curve, others, n)
            if why:
                break
        kid.evaluated = len(curve)
        if why:
            name = policies.describe(policy)
            kid.terminated_by = name
            kid.termination_reason = why
            kid.run = _cancel(kid.run, parent, f"Canceled by {name}: {why}")
            stopped.append(kid.run_id)
        kid.save(update_fields=["evaluated", "terminated_by", "termination_reason"])
    return stopped


def _cancel(run: Run, parent: Run, reason: str) -> Run:
    try:
        return request_cancel(run, parent.submitted_by, reason=reason)
    except InvalidInput:
        return Run.objects.get(pk=run.pk)  # it ended meanwhile


def _stop_all(kids: list[SweepChild], parent: Run, reason: str) -> None:
    for kid in kids:
        if kid.run.status not in TERMINAL and kid.run.status != Status.CANCEL_REQUESTED:
            kid.run = _cancel(kid.run, parent, reason)


def _history(kids: list[SweepChild], curves: dict[int, list[float]], maximize: bool) -> list[Trial]:
    trials = []
    for kid in kids:
        curve = curves.get(kid.run_id) or []
        best = (max(curve) if maximize else min(curve)) if curve else None
        if kid.run.status not in TERMINAL:
            trials.append(Trial(kid.index, kid.params, "running", best))
        elif best is not None and (kid.run.status == Status.COMPLETED or kid.terminated_by):
            trials.append(Trial(kid.index, kid.params, "complete", best))
        else:
            trials.append(Trial(kid.index, kid.params, "failed", best))
    return trials


def _launch(
    sweep: Sweep, parent: Run, config: SweepConfig, kids: list[SweepChild], curves: dict[int, list[float]]
) -> SweepChild | None:
    index = sweep.proposed
    params = propose(
        config.sampling, config.seed, index, _history(kids, curves, config.maximize), maximize=config.maximize
    )
    if params is None:
        sweep.exhausted = True
        sweep.save(update_fields=["exhausted"])
        return None
    t = sweep.template
    env = sweep.environment_version
    run = submit(
        Submission(
            team=parent.team,
            user=parent.submitted_by,
            experiment=parent.experiment.name,
            script=t.get("script", ""),
            command=t.get("command") or [],
            # Azure appends the sampled parameters to the script's own arguments: "--lr 0.05".
            arguments=[*t.get("arguments", []), *as_arguments(params)],
            environment=f"{env.environment.name}:{env.version}",
            compute_target=sweep.compute_target.name,
            distributed=t.get("distributed"),
            tags=t.get("tags") or {},
            max_run_duration_seconds=t.get("max_run_duration_seconds"),
            display_name=f"{parent.display_name or f'sweep {parent.pk}'}_{index}",
            inputs=t.get("inputs") or [],
            parent=parent,
            properties={"hyperparameters": json.dumps(params), "sweep_index": str(index)},
            snapshot_of=parent,
        )
    )
    child = SweepChild.objects.create(sweep=sweep, index=index, run=run, params=params)
    sweep.proposed = index + 1
    sweep.save(update_fields=["proposed"])
    return child


def _mark_ended(sweep: Sweep, step: Step, reason: str) -> None:
    sweep.ended_at = timezone.now()
    sweep.end_reason = reason[:300]
    sweep.save(update_fields=["ended_at", "end_reason"])
    step.ended = reason
    record("sweeps.sweep.ended", actor=None, obj=sweep.run, changes={"reason": reason}, via="controller")


def _finish(sweep: Sweep, parent: Run, step: Step, reason: str) -> None:
    try:
        transition(parent.pk, Status.FINALIZING, reason=reason)
        transition(parent.pk, Status.COMPLETED, reason=reason)
    except IllegalTransition:
        pass  # canceled in the same instant: ended either way
    _mark_ended(sweep, step, reason)


def cancel(sweep: Sweep, user: Any, reason: str = "") -> Run:
    """Cancel the sweep and, in the same request, every child still going."""
    parent = request_cancel(sweep.run, user, reason=reason or f"sweep canceled by {user.get_username()}")
    advance(sweep.pk)
    return Run.objects.get(pk=parent.pk)
