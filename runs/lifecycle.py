"""The one place run statuses change.

Algorithm: read the run's current status ``s``; refuse if ``s -> to`` is not allowed;
``UPDATE run SET status=to … WHERE id=… AND status=s``. Exactly one of several racing
callers matches the row; the others see zero rows updated, re-read, and either find
the move now illegal (raise) or retry from the new status. No lock is held across a
round trip, and it works the same on PostgreSQL and SQLite. Each successful move
records a RunStatusChange and, after commit, tells the run's watchers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Field, QuerySet
from django.db.models.sql import UpdateQuery
from django.utils import timezone

from runs import attempts
from runs.causes import default_for
from runs.models import Run, RunStatusChange
from runs.status import ALLOWED, PHASE_FIELD, RETRY_FROM, TERMINAL, Status, can_move


class IllegalTransition(Exception):
    """The run is not in a status this move may start from."""

    def __init__(self, run_id: int, current: str, target: str) -> None:
        super().__init__(f"Run {run_id} cannot move from {current} to {target}.")
        self.run_id = run_id
        self.current = current
        self.target = target


def transition(
    run_id: int,
    to: str,
    *,
    reason: str = "",
    actor: Any = None,
    only_from: Iterable[str] | None = None,
    fields: dict[str, Any] | None = None,
    where: dict[str, Any] | None = None,
    expect: str | Run | None = None,
) -> Run:
    """Move a run to ``to``; return the updated run or raise IllegalTransition.

    ``only_from`` narrows the allowed starting statuses for this caller (a worker
    claiming a queued run passes ``{"Queued"}``). ``fields`` are written in the same
    UPDATE (exit code, error, …); ``where`` adds conditions to it (a claim requires
    that no worker owns the run yet). ``expect`` is the status the caller just created the
    run in or read under a lock: the first UPDATE is conditioned on it without reading the
    status first (a miss falls back to the read), for moves that close no attempt. A Run
    given as ``expect`` is the caller's own copy of the row: its status is the expectation
    and, when the UPDATE matches, that copy is returned with the move's columns set instead
    of re-reading the row (for a caller that reads back only what it moves itself, as the
    executor does; other callers' columns in it stay as the caller read them).
    """
    fields = dict(fields or {})
    ended: dict[str, Any] | None = None  # a retry: what the attempt ends with
    closing = Status.FAILED
    if fields.pop("retry", False) or (
        to == Status.FAILED
        and fields.get("cause")
        and Run.objects.filter(pk=run_id, status__in=RETRY_FROM).exists()
        and attempts.retries_left(run_id, fields["cause"])
    ):
        ended, fields = fields, attempts.retry_fields(run_id)
        # A failure retried ends its attempt Failed; a preemption ends it Preempted.
        closing = ended.pop("attempt_status", Status.FAILED)
        reason = f"retrying after {ended.get('cause', 'a failure')}: {reason}"
        to = Status.QUEUED
    # A retry is the one way back to Queued from an active status.
    allowed = set(RETRY_FROM) if ended is not None else set(ALLOWED.get(to, ()))
    if only_from is not None and ended is None:
        allowed &= set(only_from)
    move = _Move(run_id, to, reason, actor, fields, where, ended, closing)
    known = expect if isinstance(expect, Run) else None
    guess: str | None = known.status if known is not None else expect if isinstance(expect, str) else None
    if guess is not None and (guess not in allowed or ended is not None or to in TERMINAL or not can_move(guess, to)):
        guess = known = None
    for _attempt in range(10):
        copy: Run | None = None
        if guess is not None:
            # Closing no attempt, the move needs neither the attempt number nor the exit code.
            current, number, exit_code, guess, copy, known = guess, 0, None, None, known, None
        else:
            # One read for the status and what closing an attempt records (fewer round trips:
            # a run's path from submit to its first statement takes four transitions).
            row = Run.objects.filter(pk=run_id).values_list("status", "attempt", "exit_code").first()
            if row is None:
                raise Run.DoesNotExist(f"Run {run_id} does not exist.")
            current, number, exit_code = row
            if current not in allowed or (ended is None and not can_move(current, to)):
                raise IllegalTransition(run_id, current, to)
        run = _write(move, current, number, exit_code, copy)
        if run is not None:
            return run
    raise IllegalTransition(run_id, "changing", to)


@dataclass(frozen=True)
class _Move:
    run_id: int
    to: str
    reason: str
    actor: Any
    fields: dict[str, Any]
    where: dict[str, Any] | None
    ended: dict[str, Any] | None  # a retry: what the attempt ends with
    closing: str  # the status a retried attempt ends with


def _write(move: _Move, current: str, number: int, exit_code: int | None, copy: Run | None) -> Run | None:
    """The conditional UPDATE from ``current`` and what a matched move records; None when
    another caller moved the run first (the caller re-reads and retries). ``copy``: the
    caller's run, returned with the move's columns instead of a re-read."""
    run_id, to = move.run_id, move.to
    now = timezone.now()
    updates: dict[str, Any] = {"status": to, "status_reason": move.reason, **move.fields}
    if to in TERMINAL and "cause" not in updates:
        default = default_for(to, move.reason)
        updates.update(default.fields() if default else {"cause": "", "cause_evidence": {}})
    phase = PHASE_FIELD.get(to)
    if phase:
        updates[phase] = now
    # No savepoint inside a caller's transaction (two round trips less): a miss writes
    # nothing and IllegalTransition is raised outside the block, so the caller's transaction
    # stays usable; a database error after the UPDATE fails the caller's transaction with it
    # (the move and what the caller wrote go or stay together).
    actor = move.actor if getattr(move.actor, "is_authenticated", False) else None
    change = RunStatusChange(run_id=run_id, at=now, from_status=current, to_status=to, reason=move.reason, actor=actor)
    runs = Run.objects.filter(pk=run_id, status=current, **(move.where or {}))
    lost = False
    run: Run | None = None
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            matched, run = _update_recording(runs, updates, change, read_back=copy is None)
        else:
            matched = runs.update(**updates) == 1
            if matched:
                change.save()
        if not matched:
            # ``where`` is checked only when the conditional update missed: a claim that
            # lost the race ends here instead of retrying.
            lost = bool(move.where) and not Run.objects.filter(pk=run_id, **(move.where or {})).exists()
        else:
            if move.ended is not None:
                attempts.close(run_id, number, move.closing, {"exit_code": exit_code, **move.ended})
                transaction.on_commit(partial(_dispatch, run_id))
            elif to in TERMINAL:
                attempts.close(run_id, number, to, {"exit_code": exit_code, **updates})
                transaction.on_commit(partial(_notify, run_id, to))
            if copy is not None:
                for name, value in updates.items():
                    setattr(copy, name, value)
                run = copy
            elif run is None:
                run = Run.objects.get(pk=run_id)
            transaction.on_commit(partial(_announce, run, current))
    if lost:
        raise IllegalTransition(run_id, current, to)
    return run


def _update_recording(
    runs: QuerySet[Run], updates: dict[str, Any], change: RunStatusChange, *, read_back: bool
) -> tuple[bool, Run | None]:
    """PostgreSQL: the conditional UPDATE, the INSERT of its status change and (``read_back``)
    the updated row in one statement (a data-modifying WITH), where SQLite takes three:
    whether it matched, and the run as updated."""
    query = cast(UpdateQuery, runs.query.chain(UpdateQuery))
    query.add_update_values(updates)
    compiler = query.get_compiler(runs.db)
    compiler.pre_sql_setup()
    update_sql, params = compiler.as_sql()
    fields = [cast(Field, RunStatusChange._meta.get_field(name)) for name in _RECORDED]
    values = [f.get_db_prep_save(getattr(change, f.attname), connection) for f in fields[1:]]
    pk = cast(Field, Run._meta.pk).column
    sql = (
        f"WITH moved AS ({update_sql} RETURNING {'*' if read_back else pk}), "
        f"recorded AS (INSERT INTO {RunStatusChange._meta.db_table} ({', '.join(str(f.column) for f in fields)}) "
        f"SELECT {pk}, {', '.join(['%s'] * len(values))} FROM moved) "
        "SELECT * FROM moved"
    )
    if read_back:
        found = list(Run.objects.raw(sql, [*params, *values]))
        return bool(found), found[0] if found else None
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *values])
        return cursor.rowcount == 1, None


# RunStatusChange's columns a move writes, the run first.
_RECORDED = ("run", "at", "from_status", "to_status", "reason", "actor")


def queued_at_creation(reason: str) -> dict[str, Any]:
    """The columns of a run inserted already Queued (``created_queued`` records the move)."""
    return {"status": Status.QUEUED, "status_reason": reason, PHASE_FIELD[Status.QUEUED]: timezone.now()}


def created_queued(run: Run, *, actor: Any = None) -> None:
    """Record the move NotStarted → Queued of a run this transaction inserted with
    ``queued_at_creation``, as ``transition`` records a move, without its UPDATE and
    re-read: no other caller sees the row before the commit, so no one can race it."""
    assert run.queued_at is not None  # queued_at_creation set it
    RunStatusChange.objects.create(
        run_id=run.pk,
        at=run.queued_at,
        from_status=Status.NOT_STARTED,
        to_status=Status.QUEUED,
        reason=run.status_reason,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    transaction.on_commit(partial(_announce, run, Status.NOT_STARTED))


def _notify(run_id: int, status: str) -> None:
    from notifications.services import queue_run_ended

    queue_run_ended(run_id, status)


def _dispatch(run_id: int) -> None:
    from runs.dispatch import enqueue_after_commit

    enqueue_after_commit(Run.objects.select_related("compute_target").get(pk=run_id))


def _announce(run: Run, previous: str) -> None:
    from runs import events, signals

    events.status_changed(run, previous)
    signals.status_changed.send_robust(Run, run=run, previous=previous)
