"""Websockets: one run's live log/status/metrics, and a team's run status feed.

Catch-up algorithm (no gap, no duplicate): join the run's group first, then send
stored lines with seq > ``after`` page by page; live batches are handled only after
that, one at a time, and each line is forwarded only if its seq is above the last one
sent. If a live batch starts beyond ``last_sent + 1`` (a batch was published before
the subscription took, or dropped), the gap is read from the database first: lines are
always stored before published.

Fan-out: a web process joins a run's group once (``_RunFeed``), however many watch the
run here, and hands each event to its watchers in memory: one Redis message per batch
per process instead of one per watcher. ``LogWriter`` serializes each batch once; a
watcher forwards that text as is, splicing the batches that queued up while it was
sending into one websocket message.

Receiving: ``channel_layer.receive`` takes one message per call at four Redis round
trips and several tasks, and a loop busy sending receives one per pass: with 100
watchers of a 1k lines/s run (200 batches/s) the backlog grew in Redis, seconds
behind, where no watcher can splice it. On the Redis layer the feed therefore listens
on a channel of its own (no ``!``: its Redis key holds only its messages) and pops
everything waiting in one round trip; other layers go through ``receive``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
import weakref
from collections import deque
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels_redis.core import RedisChannelLayer

from accounts.authentication import RunScope
from accounts.permissions import run_token_may_watch
from runs import logstore
from runs.events import group_name, status_payload, team_group_name
from runs.models import Run
from runs.status import TERMINAL

log = logging.getLogger(__name__)

PAGE = 5000
# Events a watcher may have waiting; beyond it log batches are dropped and the watcher
# reads the gap from the database once it has caught up with the rest.
INBOX = 1000
# Messages popped per round trip: several seconds of batches at once, bounded in memory.
POP = 500


class _RunEventsDirect:
    """Channels awaits ``aclose_old_connections()`` (a hop through the one sync thread)
    before every handler; run.* handlers either touch no database or go through
    ``database_sync_to_async``, which closes old connections itself."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"].startswith("run."):
            handler = getattr(self, get_handler_name(message), None)
            if handler is not None:
                await handler(message)
                return
        await super().dispatch(message)  # type: ignore[misc]


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
        return run if run_token_may_watch(auth, run_id) else None
    if user.is_superuser or user.is_staff or user.memberships.filter(team_id=run.team_id).exists():
        return run
    return None


@database_sync_to_async
def _page(run_id: int, after: int, before: int | None) -> logstore.TextPage:
    return logstore.page_text(run_id, after=after, before=before, limit=PAGE)


@database_sync_to_async
def _status(run_id: int) -> dict[str, Any]:
    return status_payload(Run.objects.get(pk=run_id))


class _RunFeed:
    """This process's one membership of a run's group, shared by its watchers here."""

    def __init__(self, layer: Any, run_id: int) -> None:
        self.layer = layer
        self.run_id = run_id
        self.watchers: set[RunConsumer] = set()
        self.channel = ""
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    @classmethod
    async def subscribe(cls, layer: Any, run_id: int, watcher: RunConsumer) -> _RunFeed:
        """Return once the group membership is in effect (the catch-up relies on it)."""
        feeds = _feeds.setdefault(asyncio.get_running_loop(), {})
        feed = feeds.get(run_id)
        if feed is None:
            feed = feeds[run_id] = cls(layer, run_id)
        # Added before any await, so a watcher leaving meanwhile does not tear the feed down.
        feed.watchers.add(watcher)
        try:
            async with feed.lock:
                if feed.task is None:
                    feed.channel = await feed._new_channel()
                    await layer.group_add(group_name(run_id), feed.channel)
                    feed.task = asyncio.create_task(feed._pump(), name=f"run-feed-{run_id}")
        except BaseException:
            await feed.unsubscribe(watcher)
            raise
        return feed

    async def unsubscribe(self, watcher: RunConsumer) -> None:
        self.watchers.discard(watcher)
        if self.watchers:
            return
        feeds = _feeds.get(asyncio.get_running_loop(), {})
        if feeds.get(self.run_id) is self:
            del feeds[self.run_id]
        if self.task is not None:
            self.task.cancel()
            await self.layer.group_discard(group_name(self.run_id), self.channel)

    async def _new_channel(self) -> str:
        if isinstance(self.layer, RedisChannelLayer):
            return f"runyard-feed.{uuid.uuid4().hex}"
        return str(await self.layer.new_channel())

    async def _receive(self) -> list[dict[str, Any]]:
        layer = self.layer
        if not isinstance(layer, RedisChannelLayer):
            return [await layer.receive(self.channel)]
        # The key and shard channels_redis's group_send uses. No backup queue as its
        # receive keeps: the pop is only cancelled when the feed's last watcher left.
        key = layer.prefix + self.channel
        redis = layer.connection(layer.consistent_hash(self.channel))
        first = await redis.bzpopmin(key, timeout=layer.brpop_timeout)
        if first is None:
            return []
        members = [first[1]] + [member for member, _ in await redis.zpopmin(key, POP)]
        events = []
        for member in members:
            event = layer.deserialize(member)
            event.pop("__asgi_channel__", None)
            events.append(event)
        return events

    async def _pump(self) -> None:
        while True:
            try:
                events = await self._receive()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: watchers refill any gap from the database
                log.warning("receiving events of run %s failed", self.run_id, exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for event in events:
                for watcher in list(self.watchers):
                    watcher.deliver(event)


_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, _RunFeed]] = weakref.WeakKeyDictionary()


class RunConsumer(_RunEventsDirect, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/runs/<id>/?after=<seq>``: backlog, then live lines, statuses and metrics."""

    run_id: int
    last_sent: int
    feed: _RunFeed | None = None
    drainer: asyncio.Task[None] | None = None

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
        self.inbox: deque[dict[str, Any]] = deque()
        self.wake = asyncio.Event()
        self.behind = False
        await self.accept()
        self.feed = await _RunFeed.subscribe(self.channel_layer, self.run_id, self)
        await self.send_json({"type": "status", "run": await _status(self.run_id)})
        await self._catch_up()
        self.drainer = asyncio.create_task(self._drain(), name=f"run-watcher-{self.run_id}")

    async def disconnect(self, code: int) -> None:
        if self.drainer is not None:
            self.drainer.cancel()
        if self.feed is not None:
            await self.feed.unsubscribe(self)
            self.feed = None

    def deliver(self, event: dict[str, Any]) -> None:
        if len(self.inbox) >= INBOX and event.get("type") == "run.logs":
            self.behind = True
            return
        self.inbox.append(event)
        self.wake.set()

    async def _drain(self) -> None:
        try:
            while True:
                if not self.inbox:
                    if self.behind:
                        self.behind = False
                        await self._catch_up()
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                events = list(self.inbox)
                self.inbox.clear()
                logs: list[dict[str, Any]] = []
                for event in events:
                    if event.get("type") == "run.logs":
                        logs.append(event)
                        continue
                    if logs:
                        await self._forward_logs(logs)
                        logs = []
                    handler = getattr(self, get_handler_name(event), None)
                    if handler is not None:
                        await handler(event)
                if logs:
                    await self._forward_logs(logs)
        except asyncio.CancelledError:
            raise
        except Exception:  # the client reconnects with ?after= and loses nothing
            log.warning("watcher of run %s failed", self.run_id, exc_info=True)
            await self.close(code=1011)

    async def _catch_up(self, until: int | None = None) -> None:
        while True:
            # Read the database only up to the first live batch waiting in the inbox: the
            # rest comes as that batch's text, already serialized. Without the bound a
            # watcher that joins a run printing faster than a catch-up page is read
            # (~18 µs of web CPU a line, bench/RESULTS.md) chases the writer through the
            # database until the run ends.
            bound = until if until is not None else self._first_queued()
            page = await _page(self.run_id, self.last_sent, bound)
            if not page.size:
                return
            await self.send(text_data=logstore.LOGS_PREFIX + page.body + logstore.LOGS_SUFFIX)
            self.last_sent = page.last
            if page.size < PAGE:
                return

    def _first_queued(self) -> int | None:
        """The first seq of the oldest log batch waiting in the inbox, if any."""
        return next((int(e["first"]) for e in self.inbox if e.get("type") == "run.logs"), None)

    async def _forward_logs(self, events: list[dict[str, Any]]) -> None:
        bodies: list[str] = []
        count = 0
        for event in events:
            first, last, text = event["first"], event["last"], event["text"]
            if last <= self.last_sent:
                continue
            if first > self.last_sent + 1 or count >= PAGE:
                await self._send_bodies(bodies)
                bodies, count = [], 0
                if first > self.last_sent + 1:
                    await self._catch_up(until=first)
            if first <= self.last_sent:  # partly sent by a catch-up: rare, so re-encode
                fresh = [ln for ln in json.loads(text)["lines"] if ln["seq"] > self.last_sent]
                text = logstore.logs_message(fresh)
            bodies.append(text[len(logstore.LOGS_PREFIX) : -len(logstore.LOGS_SUFFIX)])
            count += last - first + 1
            self.last_sent = last
        await self._send_bodies(bodies)

    async def _send_bodies(self, bodies: list[str]) -> None:
        if bodies:
            await self.send(text_data=logstore.LOGS_PREFIX + ", ".join(bodies) + logstore.LOGS_SUFFIX)

    async def run_logs(self, event: dict[str, Any]) -> None:
        await self._forward_logs([event])

    async def run_status(self, event: dict[str, Any]) -> None:
        if event["run"]["id"] != self.run_id:
            return
        if event["run"]["status"] in TERMINAL:
            await self._catch_up()  # the final lines, even if their batch was dropped
        await self.send_json({"type": "status", "previous": event.get("previous"), "run": event["run"]})

    async def run_metrics(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])  # built once per batch by runs.metricstore

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "last_seq": self.last_sent})


@database_sync_to_async
def _team_ids(scope: dict[str, Any]) -> list[int]:
    from accounts.models import Team

    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return []
    if user.is_superuser or user.is_staff:
        return list(Team.objects.values_list("id", flat=True))
    return list(user.memberships.values_list("team_id", flat=True))


class TeamRunsConsumer(_RunEventsDirect, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/runs/``: status changes of every run in the user's teams (the run list)."""

    groups_joined: list[str]

    async def connect(self) -> None:
        teams = await _team_ids(self.scope)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not run_token_may_watch(self.scope.get("token_auth"), None):
            await self.close(code=4403)
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
