"""The SDK's metric queue against the live stack: logging goes on while the server does
not answer (its web process stopped with SIGSTOP: connections are accepted by the
kernel and never answered), a full queue drops the newest points and says so (stderr,
``run.metrics_dropped``, the ``system/metrics_dropped`` metric on the run), and points
reach the server in order, also from two senders logging to one run at once."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import websockets

from runyard import Experiment, Run, Workspace
from runyard.metrics import DROPPED_METRIC

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]


@contextmanager
def frozen(live: Any) -> Iterator[None]:
    """The web process stopped (SIGSTOP) for the block, then resumed."""
    group = live.procs["web"].pid  # its own session: the group is the process
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def points_of(ws: Workspace, run: Run, name: str) -> list[dict[str, Any]]:
    return list(ws.client.get(f"/api/runs/{run.id}/metrics/", name=name).get(name, []))


def test_run_log_goes_on_while_the_server_does_not_answer(live: Any, world: Any) -> None:
    ws = Workspace(live.url, world.alice.key)
    run = Experiment(ws, "queue").start_logging()
    with frozen(live):
        for step in range(20_000):
            run.log("loss", 1.0 / (step + 1), step=step)
            if step % 2 == 0:
                run.log_row("progress", step=step)
        # Every call returned while nothing can have been stored: the points wait.
        assert run._batcher is not None and run._batcher.sent == 0
        assert run.metrics_dropped == 0
    run.flush(timeout=120)
    loss = points_of(ws, run, "loss")
    assert [p["step"] for p in loss] == list(range(20_000))
    assert [p["value"] for p in loss] == [1.0 / (step + 1) for step in range(20_000)]
    assert [p["payload"]["step"] for p in points_of(ws, run, "progress")] == list(range(0, 20_000, 2))
    assert run.metrics_dropped == 0 and not points_of(ws, run, DROPPED_METRIC)
    run.complete()


def test_a_full_queue_drops_the_newest_points_and_reports_them(
    live: Any, world: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNYARD_METRICS_MAX_QUEUE", "2000")
    monkeypatch.setenv("RUNYARD_METRICS_BATCH", "500")
    ws = Workspace(live.url, world.alice.key)
    run = Experiment(ws, "queue").start_logging()
    logged = 10_000
    with frozen(live):
        for step in range(logged):
            run.log("loss", float(step), step=step)
        dropped = run.metrics_dropped
        # What waits is kept: the queue, and up to three batches taken off it (on the wire,
        # encoded and handed over, encoded and waiting to be handed over).
        assert logged - 2000 - 3 * 500 <= dropped <= logged - 2000
    warning = capsys.readouterr().err
    assert "WARNING: 2000 metric points are waiting for the server" in warning and DROPPED_METRIC in warning
    run.flush(timeout=120)
    # Drop newest: what was queued is stored whole and in order (the first 2000 points
    # at least, then whatever found room whenever the sender took a batch off the queue).
    steps = [p["step"] for p in points_of(ws, run, "loss")]
    assert len(steps) == logged - dropped and steps[:2000] == list(range(2000))
    assert all(a < b for a, b in itertools.pairwise(steps))
    reported = points_of(ws, run, DROPPED_METRIC)
    assert reported and reported[-1]["value"] == dropped
    listed = ws.client.get(f"/api/runs/{run.id}/")["metrics"][DROPPED_METRIC]
    assert listed["last"] == dropped  # on the run itself: its summary, the run list's columns

    # The queue has room again: later points are stored, the count stays as it was.
    run.log("loss", -1.0, step=logged)
    run.flush(timeout=60)
    assert points_of(ws, run, "loss")[-1]["step"] == logged and run.metrics_dropped == dropped
    run.complete()
    assert run.metrics_dropped == dropped


def test_two_senders_to_one_run_keep_each_ones_order_without_steps(live: Any, world: Any) -> None:
    """Two ranks logging the same metric without a step at once: concurrent batches on
    the server; each one's points read back in the order it logged them."""
    ws = Workspace(live.url, world.alice.key)
    run = Experiment(ws, "queue").start_logging()
    senders = [Run(run.experiment, run.id) for _ in range(2)]
    each = 12_000

    def log(rank: int) -> None:
        for i in range(each):
            senders[rank].log("loss", rank * 1_000_000 + i)
        senders[rank].flush(timeout=120)

    threads = [threading.Thread(target=log, args=(rank,)) for rank in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    loss = points_of(ws, run, "loss")
    assert len(loss) == 2 * each and all(p["step"] is None for p in loss)
    for rank in range(2):
        mine = [int(p["value"]) - rank * 1_000_000 for p in loss if p["value"] // 1_000_000 == rank]
        assert mine == list(range(each))
    summary = ws.client.get(f"/api/runs/{run.id}/")["metrics"]["loss"]
    assert summary["count"] == 2 * each and summary["max"] == 1_000_000 + each - 1
    run.complete()


def test_watchers_get_each_batch_as_one_websocket_message(live: Any, world: Any) -> None:
    ws = Workspace(live.url, world.alice.key)
    run = Experiment(ws, "queue").start_logging()
    logged = 12_000

    async def watch() -> list[list[dict[str, Any]]]:
        messages: list[list[dict[str, Any]]] = []
        headers = {"Authorization": f"Token {world.alice.key}"}
        url = f"{live.url.replace('http', 'ws')}/ws/runs/{run.id}/"
        async with websockets.connect(url, additional_headers=headers, max_size=None) as socket:
            assert json.loads(await asyncio.wait_for(socket.recv(), 30))["type"] == "status"
            await asyncio.get_running_loop().run_in_executor(None, log_all)
            while sum(len(m) for m in messages) < logged:
                message = json.loads(await asyncio.wait_for(socket.recv(), 60))
                if message["type"] == "metrics":
                    messages.append(message["points"])
        return messages

    def log_all() -> None:
        for step in range(logged):
            run.log("loss", float(step), step=step)
        run.flush(timeout=120)

    messages = asyncio.run(watch())
    points = [p for m in messages for p in m]
    assert [(p["name"], p["step"], p["value"]) for p in points] == [("loss", s, float(s)) for s in range(logged)]
    # One message per stored batch (the SDK's batches are up to 5000 points), not per 500.
    assert max(len(m) for m in messages) > 500 and len(messages) < logged / 500
    run.complete()
