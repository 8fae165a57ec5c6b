"""Turning run events into notifications and deliveries.

Algorithm: a run event (a terminal move, ``run.alert`` from a script) is queued after
commit as ``tasks.fan_out``. It finds the subscriptions that match — the submitter's
own (no experiment) and every one on the run's experiment held by a member of the
run's team — and, for each, stores a ``Notification`` (the bell) and one ``Delivery``
per channel, each then sent by ``tasks.deliver`` with retries and backoff.

Payloads carry what identifies the run and why it ended (cause and its summary), never
its error text, environment variables, tokens or the channel's own secret.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import Q

from notifications.models import Delivery, Event, Level, Notification, Subscription
from runs.models import Run
from runs.status import Status

log = logging.getLogger(__name__)

EVENT_OF_STATUS: dict[str, Event] = {
    Status.COMPLETED: Event.COMPLETED,
    Status.FAILED: Event.FAILED,
    Status.CANCELED: Event.CANCELED,
}


class RunRef(TypedDict):
    id: int
    name: str
    experiment: str
    status: str
    cause: str
    url: str


class Payload(TypedDict):
    """The JSON body of a generic webhook (and what email and Slack texts are made of)."""

    event: str
    title: str
    text: str
    level: str
    at: str
    run: RunRef | None


def queue_run_ended(run_id: int, status: str) -> None:
    """After commit of a terminal move: queue the fan-out (a broker that is down loses
    the notification, never the run's transition)."""
    event = EVENT_OF_STATUS.get(status)
    if event is None:
        return
    from notifications.tasks import fan_out

    try:
        fan_out.delay(run_id, event.value)
        parent = Run.objects.filter(pk=run_id).values_list("parent_id", flat=True).first()
        if parent and not Run.objects.filter(parent_id=parent).exclude(status__in=EVENT_OF_STATUS).exists():
            if Run.objects.filter(pk=parent, status__in=EVENT_OF_STATUS).exists():
                fan_out.delay(parent, Event.SWEEP_FINISHED.value)
        elif Run.objects.filter(parent_id=run_id).exists():
            fan_out.delay(run_id, Event.SWEEP_FINISHED.value)
    except Exception as exc:  # redis-py's and kombu's connection errors have no common base
        log.warning("could not queue notifications of run %s (%s)", run_id, exc)


def describe(run: Run, event: str, alert: tuple[str, str, str] | None = None) -> tuple[str, str, str]:
    """(title, text, level) of an event."""
    if alert is not None:
        return alert
    name = run.display_name or f"run {run.pk}"
    summary = str((run.cause_evidence or {}).get("summary", ""))
    if event == Event.COMPLETED:
        return f"{name} completed", f"{run.experiment.name}: {name} completed.", Level.INFO
    if event == Event.SWEEP_FINISHED:
        return f"Sweep {name} finished", f"{run.experiment.name}: every child run of {name} ended.", Level.INFO
    if event == Event.CANCELED:
        return f"{name} was canceled", summary or run.status_reason, Level.WARN
    return f"{name} failed ({run.cause or 'unknown cause'})", summary or run.status_reason, Level.ERROR


def payload(notification: Notification) -> Payload:
    run = notification.run
    ref: RunRef | None = None
    if run is not None:
        ref = RunRef(
            id=run.pk,
            name=run.display_name,
            experiment=run.experiment.name,
            status=run.status,
            cause=run.cause,
            url=f"{settings.PUBLIC_URL}/runs/{run.pk}",
        )
    return Payload(
        event=notification.event,
        title=notification.title,
        text=notification.text,
        level=notification.level,
        at=notification.created_at.isoformat(),
        run=ref,
    )


def subscribers(run: Run, event: str) -> list[Subscription]:
    """Subscriptions that want ``event`` of ``run``: the submitter's own, and those on
    its experiment whose user is in the run's team (a user never hears of a run they
    cannot see)."""
    from accounts.models import Membership

    members = Membership.objects.filter(team_id=run.team_id).values("user_id")
    found = (
        Subscription.objects.filter(
            Q(experiment__isnull=True, user_id=run.submitted_by_id)
            | Q(experiment_id=run.experiment_id, user_id__in=members)
        )
        .select_related("user")
        .prefetch_related("channels")
    )
    out = []
    for sub in found:
        if event not in sub.events:
            continue
        if event == Event.FAILED and sub.causes and run.cause not in sub.causes:
            continue
        out.append(sub)
    return out


def fan_out(run_id: int, event: str, alert: tuple[str, str, str] | None = None) -> list[int]:
    """Store the notifications and deliveries of one event; the delivery ids to send."""
    run = Run.objects.select_related("experiment").filter(pk=run_id).first()
    if run is None:
        return []
    title, text, level = describe(run, event, alert)
    deliveries: list[int] = []
    notes: dict[int, Notification] = {}
    used: set[int] = set()  # a channel on two matching subscriptions sends once
    for sub in subscribers(run, event):
        note = notes.get(sub.user_id)
        if note is None:
            note = notes[sub.user_id] = Notification.objects.create(
                user_id=sub.user_id, event=event, run=run, title=title[:300], text=text, level=level, cause=run.cause
            )
        for channel in sub.channels.all():
            if channel.user_id == sub.user_id and channel.pk not in used:
                used.add(channel.pk)
                deliveries.append(Delivery.objects.create(notification=note, channel=channel).pk)
    return deliveries


def queue_alert(run_id: int, data: dict[str, Any]) -> None:
    """``run.alert`` from a script: fanned out like a run event, with its own text."""
    from notifications.tasks import fan_out

    alert = [str(data["title"]), str(data.get("text", "")), str(data.get("level") or Level.INFO)]
    fan_out.delay(run_id, Event.ALERT.value, alert)
