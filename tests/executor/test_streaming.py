"""Live logs over a real websocket: complete, in order, no gap, no duplicate."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from runs.status import Status
from tests.executor.helpers import submit, wait_status

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

CHATTY = """
import sys, time
n = int(sys.argv[1])
for i in range(n):
    print(f"line {i}")
    if i % 500 == 0:
        time.sleep(0.05)
"""


async def collect(
    url: str, key: str, run_id: int, after: int = 0, until_status: bool = True, origin: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    lines: list[dict[str, Any]] = []
    statuses: list[str] = []
    headers = {"Authorization": f"Token {key}"}
    if origin:
        headers["Origin"] = origin
    async with websockets.connect(
        f"{url.replace('http', 'ws')}/ws/runs/{run_id}/?after={after}", additional_headers=headers, max_size=None
    ) as ws:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
            if message["type"] == "logs":
                lines.extend(message["lines"])
            elif message["type"] == "status":
                statuses.append(message["run"]["status"])
                if until_status and message["run"]["status"] in ("Completed", "Failed", "Canceled"):
                    return lines, statuses


def test_websocket_streams_every_line_in_order(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": CHATTY}, arguments=["5000"])
    lines, statuses = asyncio.run(collect(live.url, world.alice.key, made["id"]))
    assert statuses[-1] == "Completed"
    user_lines = [ln["text"] for ln in lines if ln["rank"] == 0]
    assert user_lines == [f"line {i}" for i in range(5000)]
    seqs = [ln["seq"] for ln in lines]
    assert seqs == list(range(1, len(seqs) + 1)), "gap or duplicate"


def test_mid_run_connection_catches_up_from_after(live: Any, world: Any) -> None:
    script = CHATTY.replace("time.sleep(0.05)", "time.sleep(0.3)")
    made = submit(world.alice, {"train.py": script}, arguments=["4000"])
    from runs.models import Run
    from tests.conftest import wait_for

    wait_for(lambda: Run.objects.get(pk=made["id"]).log_seq > 600, timeout=60, what="some lines")
    lines, statuses = asyncio.run(collect(live.url, world.alice.key, made["id"], after=500))
    seqs = [ln["seq"] for ln in lines]
    assert seqs[0] == 501
    assert seqs == list(range(501, 501 + len(seqs)))
    assert statuses[-1] == "Completed"
    run = Run.objects.get(pk=made["id"])
    assert seqs[-1] == run.log_seq


def test_websocket_refuses_other_teams_and_foreign_origins(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": "print('x')"})
    wait_status(made["id"])

    async def attempt(key: str, origin: str | None = None) -> Any:
        try:
            await collect(live.url, key, made["id"], origin=origin)
        except websockets.exceptions.InvalidStatus as exc:
            return exc.response.status_code
        except websockets.exceptions.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        return "open"

    assert asyncio.run(attempt(world.bob.key)) == 403  # refused at the handshake
    assert asyncio.run(attempt("ry_invalid")) == 403
    assert asyncio.run(attempt(world.alice.key, origin="http://evil.example")) == 403
    assert asyncio.run(attempt(world.alice.key, origin="http://127.0.0.1")) == "open"


def test_logs_api_pages_by_after_and_rank(live: Any, world: Any) -> None:
    made = submit(world.alice, {"train.py": CHATTY}, arguments=["300"])
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED
    page = world.alice.client.get(f"/api/runs/{run.pk}/logs/", {"after": 10, "limit": 50, "rank": 0}).json()
    assert len(page["lines"]) == 50 and all(ln["seq"] > 10 for ln in page["lines"])
    assert page["next_after"] == page["lines"][-1]["seq"]
    bad = world.alice.client.get(f"/api/runs/{run.pk}/logs/", {"after": "x"})
    assert bad.status_code == 400 and "after" in bad.json()


def test_enormous_line_is_clipped_and_memory_bounded(live: Any, world: Any) -> None:
    script = "import sys\nsys.stdout.write('x' * 5_000_000 + '\\n')\nprint('after')\n"
    made = submit(world.alice, {"train.py": script})
    run = wait_status(made["id"])
    assert run.status == Status.COMPLETED, run.error
    from runs import logstore

    texts = [line.text for line in logstore.lines(run.pk, rank=0)]
    assert texts[-1] == "after"
    assert max(len(t) for t in texts) < 20_000
    assert sum(t.count("x") for t in texts) <= 5_000_000


BURST = """
import os, sys
n = int(sys.argv[1])
out, err = sys.stdout, sys.stderr
for start in range(0, n, 1000):
    out.write("".join(f"out {i}\\n" for i in range(start, min(n, start + 1000))))
    err.write("".join(f"err {i}\\r\\n" for i in range(start, min(n, start + 1000), 100)))
    if start == n // 2:
        out.write("y" * 100_000 + "\\n")  # longer than the pump's 64 KiB read
    out.flush()
    err.flush()
out.write("no newline before the crash")
out.flush()
os._exit(3)
"""


def test_burst_from_a_crashing_process_loses_no_line(live: Any, world: Any) -> None:
    from runs import logstore
    from runs.models import Run
    from tests.executor.helpers import lines

    n = 200_000
    made = submit(world.alice, {"train.py": BURST}, arguments=[str(n)])
    streamed, statuses = asyncio.run(collect(live.url, world.alice.key, made["id"]))
    run = Run.objects.get(pk=made["id"])
    assert statuses[-1] == "Failed" and run.exit_code == 3, run.error
    seqs = [line.seq for line in logstore.lines(run.pk)]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] == run.log_seq, "gap or duplicate in the store"
    assert [ln["seq"] for ln in streamed] == seqs, "gap, duplicate or reorder on the websocket"
    stdout = lines(run.pk, rank=0, stream="stdout")
    long_pieces = [t for t in stdout if t.startswith("y")]
    # Lines longer than the pump's read are handed over in 64 KiB pieces, each clipped.
    assert len(long_pieces) == 2 and all("more characters cut" in t for t in long_pieces)
    assert [t for t in stdout if not t.startswith("y")] == [f"out {i}" for i in range(n)] + [
        "no newline before the crash"
    ]
    assert lines(run.pk, rank=0, stream="stderr") == [f"err {i}" for i in range(0, n, 100)]
    assert [ln["text"] for ln in streamed if ln["rank"] == 0] == lines(run.pk, rank=0)


def test_many_watchers_each_get_every_line_once(live: Any, world: Any) -> None:
    # Watchers of one run share one group membership per web process; each must still
    # get the whole log, in order, whether it joined before or while the run prints.
    from runs.models import Run
    from tests.conftest import wait_for

    script = CHATTY.replace("time.sleep(0.05)", "time.sleep(0.3)")
    made = submit(world.alice, {"train.py": script}, arguments=["4000"])

    async def everyone() -> list[tuple[list[dict[str, Any]], list[str]]]:
        early = [asyncio.ensure_future(collect(live.url, world.alice.key, made["id"])) for _ in range(5)]
        await asyncio.to_thread(
            wait_for, lambda: Run.objects.get(pk=made["id"]).log_seq > 600, timeout=60, what="some lines"
        )
        late = [asyncio.ensure_future(collect(live.url, world.alice.key, made["id"], after=7)) for _ in range(3)]
        return list(await asyncio.gather(*early, *late))

    results = asyncio.run(everyone())
    run = Run.objects.get(pk=made["id"])
    assert run.status == Status.COMPLETED
    for index, (got, statuses) in enumerate(results):
        start = 8 if index >= 5 else 1
        assert statuses[-1] == "Completed"
        assert [ln["seq"] for ln in got] == list(range(start, run.log_seq + 1)), f"watcher {index}"
        assert [ln["text"] for ln in got if ln["rank"] == 0][-1] == "line 3999"


def test_run_feed_takes_every_waiting_event_in_one_receive(live: Any, world: Any) -> None:
    # A web process busy sending must not fall behind its group's queue: what waited
    # there comes out at once, in order, and as the events that were sent.
    import random

    from channels.layers import get_channel_layer

    from runs.consumers import _RunFeed
    from runs.events import group_name

    run_id = random.randrange(10**9, 2 * 10**9)  # a group no live watcher is in
    sent = [{"type": "run.logs", "first": i, "last": i, "text": f"batch {i}"} for i in range(1, 8)]
    sent.append({"type": "run.status", "run": {"id": run_id, "status": "Completed"}})

    async def scenario() -> list[list[dict[str, Any]]]:
        layer = get_channel_layer()
        feed = _RunFeed(layer, run_id)
        feed.channel = await feed._new_channel()
        await layer.group_add(group_name(run_id), feed.channel)
        try:
            for event in sent:
                await layer.group_send(group_name(run_id), event)
            return [await feed._receive()]
        finally:
            await layer.group_discard(group_name(run_id), feed.channel)

    assert asyncio.run(scenario()) == [sent]
