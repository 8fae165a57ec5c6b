"""Notifications end to end on the live stack: a real Celery worker fans run events out
and delivers them to a real SMTP sink (aiosmtpd), a Slack-compatible receiver and a
signed generic webhook (a local HTTP server checking the HMAC), retrying a refusal."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from notifications.models import Delivery, Notification
from tests.conftest import wait_for
from tests.executor.helpers import submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]
SECRET = "whsec-test-7f3a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mails: list[Any] = field(default_factory=list)
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)


class _Sink:
    def __init__(self, got: Received) -> None:
        self.got = got

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.got.mails.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def receivers(live: Any) -> Iterator[tuple[Received, int]]:
    """An SMTP sink and an HTTP receiver; the worker restarted to send mail to the sink.
    ``/flaky`` answers 503 once, then 200."""
    got = Received()
    smtp_port = free_port()
    controller = Controller(_Sink(got), hostname="127.0.0.1", port=smtp_port)
    controller.start()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/flaky" and self.path not in got.refused:
                got.refused.add(self.path)
                self.send_response(503)
                self.end_headers()
                return
            got.posts.append((self.path, dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    saved = dict(live.env)
    live.stop("runner")
    live.env.update({"RUNYARD_SMTP_HOST": "127.0.0.1", "RUNYARD_SMTP_PORT": str(smtp_port)})
    live.start_worker("runner")
    try:
        yield got, http.server_address[1]
    finally:
        live.stop("runner")
        live.env.clear()
        live.env.update(saved)
        live.start_worker("runner")
        http.shutdown()
        controller.stop()


FAILING = "def step():\n    raise RuntimeError('loss is nan')\nstep()\n"
ALERTING = (
    "from runyard import Run\nrun = Run.get_context()\n"
    "run.alert('Loss too high', 'loss=9.5 > 5 at step 3', 'warn')\nprint('alerted')\n"
)


def test_failed_run_and_alert_reach_email_slack_and_a_signed_webhook(live: Any, world: Any, receivers: Any) -> None:
    got, port = receivers
    alice = world.alice.client
    channels = []
    for body in (
        {"name": "mail", "kind": "email", "address": "alice@example.com"},
        {"name": "slack", "kind": "slack", "address": f"http://127.0.0.1:{port}/slack"},
        {"name": "hook", "kind": "webhook", "address": f"http://127.0.0.1:{port}/flaky", "secret": SECRET},
    ):
        made = alice.post("/api/notification-channels/", body, format="json")
        assert made.status_code == 201, made.content
        shown = made.json()
        assert "address" not in shown and "secret" not in shown  # write-only
        channels.append(shown["id"])
    assert (
        alice.get(f"/api/notification-channels/{channels[2]}/").json()["address_masked"] == f"http://127.0.0.1:{port}/…"
    )
    sub = alice.post(
        "/api/notification-subscriptions/",
        {"events": ["run.failed", "run.alert"], "causes": ["user_error"], "channels": channels},
        format="json",
    )
    assert sub.status_code == 201, sub.content

    run = wait_status(submit(world.alice, {"train.py": FAILING})["id"])
    assert run.cause == "user_error"
    wait_for(
        lambda: Delivery.objects.filter(notification__run=run, status="sent").count() == 3,
        timeout=60,
        what="three deliveries sent",
    )
    # The webhook refused once: retried with backoff, both tries recorded.
    hook = Delivery.objects.get(notification__run=run, channel_id=channels[2])
    assert hook.attempts == 2 and hook.response_code == 200

    rcpts, mail = got.mails[0]
    assert rcpts == ["alice@example.com"]
    assert "failed (user_error)" in mail["Subject"]
    assert "RuntimeError: loss is nan" in mail.get_payload()
    slack = next(json.loads(b) for p, _, b in got.posts if p == "/slack")
    assert "failed (user_error)" in slack["text"]

    _path, headers, body = next(post for post in got.posts if post[0] == "/flaky")
    stamp = headers["X-Runyard-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Runyard-Signature"], f"sha256={expected}")
    data = json.loads(body)
    assert data["event"] == "run.failed" and data["run"]["id"] == run.pk and data["run"]["cause"] == "user_error"
    assert SECRET not in body.decode() and "ryr_" not in body.decode()  # nothing secret in payloads

    # run.alert from a script.
    alerted = wait_status(submit(world.alice, {"train.py": ALERTING})["id"])
    assert alerted.status == "Completed", alerted.error
    note = wait_for(
        lambda: Notification.objects.filter(run=alerted, event="run.alert").first(), timeout=60, what="the alert"
    )
    assert (note.title, note.text, note.level) == ("Loss too high", "loss=9.5 > 5 at step 3", "warn")
    wait_for(lambda: any("Loss too high" in m["Subject"] for _, m in got.mails), timeout=60, what="the alert mail")

    # The bell: unread notifications, then read. Completed runs were not subscribed.
    bell = alice.get("/api/notifications/").json()
    assert bell["unread"] == 2 and {n["event"] for n in bell["results"]} == {"run.failed", "run.alert"}
    assert alice.post("/api/notifications/read/", {}, format="json").json()["unread"] == 0

    # Admins see every delivery; members do not.
    assert alice.get("/api/notification-deliveries/").status_code == 403
    listed = world.admin.client.get("/api/notification-deliveries/").json()["results"]
    assert {row["kind"] for row in listed} == {"email", "slack", "webhook"}


def test_subscriptions_are_refused_across_teams(world: Any) -> None:
    experiment = world.alice.client.post("/api/experiments/", {"name": "private"}, format="json").json()
    bad = world.bob.client.post(
        "/api/notification-subscriptions/", {"experiment": experiment["id"], "events": ["run.failed"]}, format="json"
    )
    assert bad.status_code == 400 and "experiment" in bad.json()
    unknown = world.alice.client.post("/api/notification-subscriptions/", {"events": ["run.exploded"]}, format="json")
    assert unknown.status_code == 400 and "events" in unknown.json()
    no_secret = world.alice.client.post(
        "/api/notification-channels/",
        {"name": "h", "kind": "webhook", "address": "https://example.com/h"},
        format="json",
    )
    assert no_secret.status_code == 400 and "secret" in no_secret.json()
