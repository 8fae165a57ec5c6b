"""Celery tasks: fan an event out, then send each delivery with retries and backoff."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from notifications import services
from notifications.models import Delivery

MAX_ATTEMPTS = 5


def backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` (1, 2, …): 2, 4, 8, … capped at 5 minutes."""
    return float(min(2**attempt, 300))


@shared_task(ignore_result=True)
def fan_out(run_id: int, event: str, alert: list[str] | None = None) -> int:
    ids = services.fan_out(run_id, event, tuple(alert) if alert else None)  # type: ignore[arg-type]
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)


@shared_task(bind=True, ignore_result=True, acks_late=True)
def deliver(self: Any, delivery_id: int) -> str:
    from notifications.delivery import DeliveryError, send

    delivery = (
        Delivery.objects.select_related("channel", "notification__run__experiment").filter(pk=delivery_id).first()
    )
    if delivery is None or delivery.status != Delivery.Status.PENDING:
        return "gone"
    attempt = delivery.attempts + 1
    try:
        code = send(delivery.channel, delivery.notification)
    except DeliveryError as exc:
        done = attempt >= MAX_ATTEMPTS
        Delivery.objects.filter(pk=delivery_id).update(
            attempts=attempt,
            last_error=str(exc),
            response_code=exc.code,
            status=Delivery.Status.FAILED if done else Delivery.Status.PENDING,
        )
        if not done:
            deliver.apply_async(args=[delivery_id], countdown=backoff(attempt))
        return "failed" if done else "retry"
    Delivery.objects.filter(pk=delivery_id).update(
        attempts=attempt, status=Delivery.Status.SENT, response_code=code, sent_at=timezone.now(), last_error=""
    )
    return "sent"
