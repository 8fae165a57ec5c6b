"""Offline: in-run logging is buffered, batched, never blocks, and loses nothing at exit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from runyard.metrics import UNREACHABLE_EXIT_SECONDS, MetricBatcher
from runyard.offline_run import OfflineRun
from runyard.run import Run, metric_value
from tests.sdk.fake_server import fake_runyard, metric_points

ROOT = Path(__file__).resolve().parents[2]


def test_logging_does_not_wait_for_the_server() -> None:
    release = threading.Event()
    received: list[dict[str, Any]] = []

    def slow_send(points: list[dict[str, Any]]) -> None:
        release.wait(30)
        received.extend(points)

    batcher = MetricBatcher(slow_send, interval=0.01, batch_size=1000)
    for step in range(10_000):
        batcher.add("loss", 1.0 / (step + 1), step)
    # Every call returned while the sender is still stuck on its first batch; besides that
    # batch only the next one, encoded ahead while the first is posted, left the queue.
    assert not received and batcher.pending >= 10_000 - 2 * 1000
    release.set()
    batcher.close()
    assert len(received) == 10_000 and [p["step"] for p in received] == list(range(10_000))
    assert received[0]["name"] == "loss" and received[0]["kind"] == "scalar" and "time" in received[0]


def test_failed_batches_are_retried_not_lost() -> None:
    calls: list[int] = []

    def flaky(points: list[dict[str, Any]]) -> None:
        calls.append(len(points))
        if len(calls) < 3:
            raise OSError("connection reset")

    batcher = MetricBatcher(flaky, interval=60)
    batcher.add("a", 1.0)
    batcher.flush()
    assert calls == [1, 1, 1] and batcher.sent == 1 and batcher.dropped == 0


def test_an_unreachable_server_is_said_at_once_and_does_not_hold_the_exit(capsys: Any) -> None:
    from runyard.exceptions import WebserviceException

    attempts: list[float] = []

    def unreachable(points: list[dict[str, Any]]) -> None:
        attempts.append(time.monotonic())
        raise WebserviceException("Cannot reach Runyard at http://10.9.9.9:1: Connection refused", 0)

    batcher = MetricBatcher(unreachable, interval=60)
    batcher.add("a", 1.0)
    batcher.close()  # at exit: never reached, so it gives up after a few seconds, not a minute
    err = capsys.readouterr().err
    assert err.count("cannot send metrics, retrying") == 1 and "Cannot reach Runyard" in err
    assert batcher.dropped == 1 and attempts[-1] - attempts[0] <= UNREACHABLE_EXIT_SECONDS


def test_script_exiting_without_flush_loses_nothing(tmp_path: Path) -> None:
    points: list[dict[str, Any]] = []

    def route(method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "POST" and path == "/api/runs/7/metrics/":
            batch = metric_points(body)  # the SDK's columnar body
            points.extend(batch)
            return 201, {"stored": len(batch)}
        return 404, {"detail": "no"}

    script = tmp_path / "train.py"
    script.write_text(
        "from runyard import Run\n"
        "run = Run.get_context()\n"
        "assert run.id == '7', run\n"
        "for i in range(10000):\n"
        "    run.log('loss', i * 0.5, step=i)\n"
        "run.log_row('table', epoch=1, acc=0.9)\n"
        "raise SystemExit(0)\n"
    )
    with fake_runyard(route, delay=0.05) as (url, _):
        env = {
            **os.environ,
            "RUNYARD_RUN_ID": "7",
            "RUNYARD_URL": url,
            "RUNYARD_RUN_TOKEN": "ryr_test",
            "RUNYARD_EXPERIMENT": "e",
            "PYTHONPATH": str(ROOT),
        }
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    scalars = [p for p in points if p["name"] == "loss"]
    assert len(scalars) == 10_000 and scalars[-1] == {**scalars[-1], "value": 4999.5, "step": 9999}
    assert [p["payload"] for p in points if p["name"] == "table"] == [{"epoch": 1, "acc": 0.9}]


def test_get_context_outside_runyard_is_an_offline_run(monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.delenv("RUNYARD_RUN_ID", raising=False)
    run = Run.get_context()
    assert isinstance(run, OfflineRun)
    run.log("acc", 0.5)
    run.log_list("xs", [1, 2])
    run.tag("k", "v")
    assert "acc" in capsys.readouterr().err
    assert run.get_metrics() == {"acc": 0.5, "xs": [1, 2]}


def test_metric_values_have_azures_shape() -> None:
    assert metric_value([{"kind": "scalar", "value": 1.0}]) == 1.0
    assert metric_value([{"kind": "scalar", "value": 1.0}, {"kind": "scalar", "value": 2.0}]) == [1.0, 2.0]
    assert metric_value([{"kind": "list", "payload": [1, 2]}]) == [1, 2]
    rows = [{"kind": "row", "payload": {"a": 1, "b": 2}}, {"kind": "row", "payload": {"a": 3, "b": 4}}]
    assert metric_value(rows) == {"a": [1, 3], "b": [2, 4]}
