"""Websockets: one run's live log/status/metrics, and a team's run status feed.

Catch-up algorithm (no gap, no duplicate): join the run's group first, then send
stored lines with seq > ``after`` page by page; live batches are handled only after
that (Channels delivers group messages to a consumer one at a time), and each line is
forwarded only if its seq is above the last one sent. If a live batch starts beyond
``last_sent + 1`` (a batch was published before the subscription took, or dropped),
the gap is read from the database first: lines are always stored before published.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.authentication import RunScope
from runs import logstore
from runs.events import group_name, status_payload, team_group_name
from runs.models import Run
from runs.status import TERMINAL

PAGE = 5000


@database_sync_to_async
def _visible_run(scope: dict[str, Any], run_id: int) -> Run | None:
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return None
    auth = scope.get("token_auth")
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        return None
    if isinstance(auth, RunScope):
        return run if auth.run_id == run_id else None
    if user.is_superuser or user.is_staff or user.memberships.filter(team_id=run.team_id).exists():
        return run
    return None


@database_sync_to_async
def _page(run_id: int, after: int) -> list[dict[str, Any]]:
    return logstore.page(run_id, after=after, limit=PAGE)


@database_sync_to_async
def _status(run_id: int) -> dict[str, Any]:
    return status_payload(Run.objects.get(pk=run_id))


class RunConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/runs/<id>/?after=<seq>``: backlog, then live lines, statuses and metrics."""

    run_id: int
    last_sent: int

    async def connect(self) -> None:
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        run = await _visible_run(self.scope, self.run_id)
        if run is None:
            await self.close(code=4403)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.last_sent = max(0, int((query.get("after") or ["0"])[0]))
        except ValueError:
            self.last_sent = 0
        await self.accept()
        await self.channel_layer.group_add(group_name(self.run_id), self.channel_name)
        await self.send_json({"type": "status", "run": await _status(self.run_id)})
        await self._catch_up()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "run_id", None) is not None:
            await self.channel_layer.group_discard(group_name(self.run_id), self.channel_name)

    async def _catch_up(self, until: int | None = None) -> None:
        while True:
            lines = await _page(self.run_id, self.last_sent)
            if until is not None:
                lines = [ln for ln in lines if ln["seq"] < until]
            if not lines:
                return
            await self.send_json({"type": "logs", "lines": lines})
            self.last_sent = lines[-1]["seq"]
            if len(lines) < PAGE:
                return

    async def run_logs(self, event: dict[str, Any]) -> None:
        lines = event["lines"]
        if not lines or lines[-1]["seq"] <= self.last_sent:
            return
        if lines[0]["seq"] > self.last_sent + 1:
            await self._catch_up(until=lines[0]["seq"])
        fresh = [ln for ln in lines if ln["seq"] > self.last_sent]
        if fresh:
            await self.send_json({"type": "logs", "lines": fresh})
            self.last_sent = fresh[-1]["seq"]

    async def run_status(self, event: dict[str, Any]) -> None:
        if event["run"]["id"] != self.run_id:
            return
        if event["run"]["status"] in TERMINAL:
            await self._catch_up()  # the final lines, even if their batch was dropped
        await self.send_json({"type": "status", "previous": event.get("previous"), "run": event["run"]})

    async def run_metrics(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "metrics", "points": event["points"]})

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "last_seq": self.last_sent})


@database_sync_to_async
def _team_ids(scope: dict[str, Any]) -> list[int]:
    from accounts.models import Team

    user = scope.get("user")
    if user is None or not user.is_authenticated or isinstance(scope.get("token_auth"), RunScope):
        return []
    if user.is_superuser or user.is_staff:
        return list(Team.objects.values_list("id", flat=True))
    return list(user.memberships.values_list("team_id", flat=True))


class TeamRunsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/runs/``: status changes of every run in the user's teams (the run list)."""

    groups_joined: list[str]

    async def connect(self) -> None:
        teams = await _team_ids(self.scope)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.accept()
        self.groups_joined = [team_group_name(t) for t in teams]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def run_status(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "status", "previous": event.get("previous"), "run": event["run"]})
