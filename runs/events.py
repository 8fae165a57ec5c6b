"""Messages to a run's websocket group: status changes and metrics.

Log lines go through ``runs.logstore`` (batched); these are small and rare.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from runs.models import Run

log = logging.getLogger(__name__)


def group_name(run_id: int) -> str:
    return f"run.{run_id}"


def team_group_name(team_id: int) -> str:
    return f"team.{team_id}.runs"


def send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # a watcher-only feature must never break the run itself
        log.warning("could not publish to %s", group, exc_info=True)


def status_payload(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "status_reason": run.status_reason,
        "exit_code": run.exit_code,
        "error": run.error,
        "queued_at": run.queued_at.isoformat() if run.queued_at else None,
        "running_at": run.running_at.isoformat() if run.running_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
    }


def status_changed(run: Run, previous: str) -> None:
    payload = {"type": "run.status", "previous": previous, "run": status_payload(run)}
    send(group_name(run.pk), payload)
    send(team_group_name(run.team_id), payload)


def metrics_logged(run_id: int, points: list[dict[str, Any]]) -> None:
    send(group_name(run_id), {"type": "run.metrics", "points": points})
