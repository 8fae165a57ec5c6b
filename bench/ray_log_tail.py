"""Ray Jobs' side of bench/log_stream.py, run with the Ray peer's Python (bench/peers.py).

Submits ``python SCRIPT ARGS`` with ``JobSubmissionClient.submit_job`` (the script's
output unbuffered, as Runyard runs it) and follows it with ``tail_job_logs``, as a user
watching a Ray job does; prints one JSON object: when each kind of line arrived.

- ``throughput``: the lines ``line i abc…`` in order (``texts_ok``: exactly 0..N-1, none
  lost, none repeated), the time the first and the last one arrived.
- ``latency``: for each ``t i <printed time>`` line, received − printed.

No Runyard import: it runs in Ray's venv.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from ray.job_submission import JobSubmissionClient


async def follow(client: JobSubmissionClient, job: str, mode: str) -> dict[str, object]:
    buffer = ""
    expected = 0
    texts_ok = True
    first = last = 0.0
    latencies: list[float] = []
    async for piece in client.tail_job_logs(job):
        now = time.time()
        buffer += piece
        *complete, buffer = buffer.split("\n")
        for line in complete:
            if mode == "throughput" and line.startswith("line "):
                texts_ok = texts_ok and line == f"line {expected} abcdefghijklmnopqrstuvwxyz"
                expected += 1
                first = first or now
                last = now
            elif mode == "latency" and line.startswith("t "):
                latencies.append(now - float(line.split()[2]))
    return {"count": expected, "texts_ok": texts_ok, "first": first, "last": last, "latencies": latencies}


def main() -> None:
    url, mode, script, *args = sys.argv[1:]
    client = JobSubmissionClient(url)
    job = client.submit_job(
        entrypoint=" ".join([sys.executable, script, *args]),
        runtime_env={"env_vars": {"PYTHONUNBUFFERED": "1"}},
    )
    out = asyncio.run(follow(client, job, mode))
    out["status"] = str(client.get_job_status(job))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
