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
    from runs.models import LogLine

    texts = list(LogLine.objects.filter(run=run, rank=0).order_by("seq").values_list("text", flat=True))
    assert texts[-1] == "after"
    assert max(len(t) for t in texts) < 20_000
    assert sum(t.count("x") for t in texts) <= 5_000_000
