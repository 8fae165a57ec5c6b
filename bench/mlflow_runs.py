"""The run list's peer: MLflow's ``runs/search`` on a tracking server holding as many runs.

``populate`` fills the server's SQLite store directly (100k runs through the REST API
would take longer than the whole benchmark), in MLflow's own schema as its
``create_run`` + ``set_tag`` + ``log_param`` would leave it: one ``runs`` row, the tags
MLflow's client sets (``mlflow.runName``, ``mlflow.user``, ``mlflow.source.name``) plus
the two Runyard's bench runs carry, and one parameter (the ``--lr`` argument). The shape
mirrors ``run_list.populate``: 80% of the runs in the member's team (here: the 200
experiments named ``default/exp-NNN``; a team maps to a set of experiments, since MLflow
has no teams), the rest in ``bench-other/exp-NNN``, the same status mix, start times
spread over a year. Searches go through the server's REST API with keep-alive HTTP from
the benchmark process, exactly as Runyard's list is requested (``MlflowSearch``).

How the cases map (as close as the two allow):

- no filter → ``experiment_ids`` = the team's 200 experiments, ``order_by
  attributes.start_time DESC`` (MLflow's default order; Runyard's is ``-created_at``);
- status=Failed → ``filter "attributes.status = 'FAILED'"``;
- experiment=exp-042 → ``experiment_ids`` = that one experiment;
- deep page 90% down → MLflow's page token is an offset (``{"offset": N}``, what its
  own next_page_token holds); Runyard's is a cursor. Each side's own way to page deep.

Both return 50 runs per page; MLflow's response carries every tag and parameter of each
run, Runyard's the list's columns (the byte counts are reported beside the times).
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUS = {
    "Completed": "FINISHED",
    "Failed": "FAILED",
    "Canceled": "KILLED",
    "Running": "RUNNING",
    "Queued": "SCHEDULED",
}
BATCH = 5000
YEAR_MS = 365 * 24 * 3600 * 1000


@dataclass(frozen=True)
class Corpus:
    """What the search cases need to know about the populated store."""

    team_experiments: tuple[str, ...]
    experiment_042: str
    team_runs: int
    runs: int


def _experiments(db: sqlite3.Connection, count: int) -> dict[tuple[str, int], int]:
    ids: dict[tuple[str, int], int] = {}
    now = int(time.time() * 1000)
    for team in ("default", "bench-other"):
        for i in range(count):
            name = f"{team}/exp-{i:03d}"
            row = db.execute("SELECT experiment_id FROM experiments WHERE name = ?", (name,)).fetchone()
            if row is None:
                cur = db.execute(
                    "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, "
                    "last_update_time, workspace) VALUES (?, '', 'active', ?, ?, 'default')",
                    (name, now, now),
                )
                exp_id = int(cur.lastrowid or 0)
                db.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                    (f"mlflow-artifacts:/{exp_id}", exp_id),
                )
            else:
                exp_id = int(row[0])
            ids[(team, i)] = exp_id
    return ids


def populate(
    db_path: Path,
    target: int,
    experiments: int,
    statuses: list[tuple[str, float]],
    log: Callable[[str], None] = print,
) -> tuple[Corpus, float]:
    """Add runs until the store holds ``target``; the corpus and the seconds it took."""
    t0 = time.monotonic()
    db = sqlite3.connect(db_path, timeout=60)
    try:
        with db:
            exps = _experiments(db, experiments)
        have = int(db.execute("SELECT count(*) FROM runs").fetchone()[0])
        rng = random.Random(have)
        names, weights = zip(*statuses, strict=True)
        start = int(time.time() * 1000) - YEAR_MS
        step = YEAR_MS / 1_000_000
        made = have
        while made < target:
            runs, tags, params = [], [], []
            for _ in range(min(BATCH, target - made)):
                made += 1
                team = "default" if rng.random() < 0.8 else "bench-other"
                status = STATUS[rng.choices(names, weights)[0]]
                exp = exps[(team, rng.randrange(experiments))]
                started = start + int(step * made) + rng.randint(0, 999)
                ended = started + rng.randint(5, 5000) * 1000 if status not in ("RUNNING", "SCHEDULED") else None
                run_id = uuid.uuid4().hex
                name = f"bench run {made}"
                runs.append(
                    (run_id, name, "LOCAL", "train.py", "", "bench", status, started, ended, "", "active",
                     f"mlflow-artifacts:/{exp}/{run_id}/artifacts", exp)
                )  # fmt: skip
                tags += [
                    ("mlflow.runName", name, run_id),
                    ("mlflow.user", "bench", run_id),
                    ("mlflow.source.name", "train.py", run_id),
                    ("bench", "1", run_id),
                    ("seed", str(made % 10), run_id),
                ]
                params.append(("lr", "0.01", run_id))
            with db:
                db.executemany(
                    "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
                    "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    runs,
                )
                db.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tags)
                db.executemany('INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', params)
            if made % 100_000 < BATCH:
                log(f"  MLflow: {made:,} runs")
        team_ids = tuple(str(exps[("default", i)]) for i in range(experiments))
        placeholders = ",".join("?" * len(team_ids))
        team_runs = int(
            db.execute(f"SELECT count(*) FROM runs WHERE experiment_id IN ({placeholders})", team_ids).fetchone()[0]
        )
    finally:
        db.close()
    corpus = Corpus(team_ids, str(exps[("default", 42)]), team_runs, made)
    return corpus, (time.monotonic() - t0 if made > have else 0.0)


def page_token(offset: int) -> str:
    """MLflow's own next_page_token format (``SearchUtils.create_page_token``)."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def cases(corpus: Corpus) -> dict[str, dict[str, Any]]:
    """Run-list case label (as in run_list.cases) → the runs/search body that matches it."""
    base = {"max_results": 50, "order_by": ["attributes.start_time DESC"]}
    team = list(corpus.team_experiments)
    return {
        "no filter": {**base, "experiment_ids": team},
        "status=Failed": {**base, "experiment_ids": team, "filter": "attributes.status = 'FAILED'"},
        "experiment=exp-042": {**base, "experiment_ids": [corpus.experiment_042]},
        "deep cursor page (90% down)": {
            **base,
            "experiment_ids": team,
            "page_token": page_token(int(corpus.team_runs * 0.9)),
        },
    }


class MlflowSearch:
    """Keep-alive POST /api/2.0/mlflow/runs/search (the call MlflowClient.search_runs makes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn: http.client.HTTPConnection | None = None

    def search(self, body: dict[str, Any]) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self._conn.request(
                    "POST", "/api/2.0/mlflow/runs/search", body=data, headers={"Content-Type": "application/json"}
                )
                response = self._conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def check(self, body: dict[str, Any]) -> int:
        """One search that must answer runs (a page of 50 unless the set is smaller); the
        response's size in bytes."""
        status, raw = self.search(body)
        if status != 200:
            raise RuntimeError(f"MLflow runs/search: {status} {raw[:300]!r}")
        page = json.loads(raw)
        got = len(page.get("runs", []))
        if not got or (got < 50 and page.get("next_page_token")):
            raise RuntimeError(f"MLflow runs/search answered {got} runs for {body}")
        return len(raw)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
