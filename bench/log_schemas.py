"""Log storage layouts compared alone (no Django): CPU per line of storing 2000-line
batches, and bytes per line, for the layouts considered in issue 21 (bench/RESULTS.md,
"Log storage"). SQLite always (WAL, synchronous=NORMAL, as Runyard runs it); PostgreSQL
when ``DATABASE_URL`` is set (it creates and drops tables ``l`` and ``ch`` there: use a
scratch database); an append-only file per rank with a seq index for comparison.

    python bench/log_schemas.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

N, BATCHES = 2000, 20
AT = datetime.now(UTC)


def text(seq: int) -> str:
    return f"line {seq} abcdefghijklmnopqrstuvwxyz"


def rows(first: int) -> list[tuple[Any, ...]]:
    return [(1, first + i, 0, "stdout", text(first + i), AT.isoformat()) for i in range(N)]


def chunk(first: int) -> tuple[Any, ...]:
    lines = json.dumps([(0, "stdout", text(first + i)) for i in range(N)], ensure_ascii=False)
    return (1, first, first + N - 1, ",0,", json.dumps([[AT.isoformat(), N]]), lines)


def timed(step: Callable[[int], None]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for b in range(BATCHES):
        step(1 + b * N)
    lines = N * BATCHES
    return (time.process_time() - cpu) / lines * 1e6, (time.perf_counter() - wall) / lines * 1e6


def sqlite(workdir: Path) -> None:
    import sqlite3

    line_table = "(run_id int, seq int, rank int, stream text, text text, at text"
    layouts = {
        "row per line, 3 indexes (before)": [
            f"create table l(id integer primary key autoincrement, {line_table[1:]})",
            "create unique index u on l(run_id, seq)",
            "create index r on l(run_id, rank, seq)",
        ],
        "row per line, primary key (run, seq) only": [f"create table l{line_table}, primary key(run_id, seq))"],
        "same, WITHOUT ROWID": [f"create table l{line_table}, primary key(run_id, seq)) without rowid"],
        "a row per batch (LogChunk)": [
            "create table ch(id integer primary key, run_id int, first_seq int, last_seq int, "
            "ranks text, stamps text, lines text)",
            "create unique index u on ch(run_id, first_seq)",
        ],
    }
    for name, ddl in layouts.items():
        path = workdir / f"{len(name)}.db"
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("pragma journal_mode=wal")
        db.execute("pragma synchronous=normal")
        for statement in ddl:
            db.execute(statement)

        def step(first: int, db: sqlite3.Connection = db, name: str = name) -> None:
            db.execute("begin")
            if name.startswith("a row per batch"):
                db.execute("insert or ignore into ch(run_id, first_seq, last_seq, ranks, stamps, lines) "
                           "values (?, ?, ?, ?, ?, ?)", chunk(first))  # fmt: skip
            else:
                db.executemany("insert or ignore into l(run_id, seq, rank, stream, text, at) "
                               "values (?, ?, ?, ?, ?, ?)", rows(first))  # fmt: skip
            db.execute("commit")

        cpu, _ = timed(step)
        db.execute("pragma wal_checkpoint(truncate)")
        db.close()
        print(f"| SQLite | {name} | {cpu:.2f} | – | {path.stat().st_size / (N * BATCHES):.0f} |")


def postgres(url: str) -> None:
    import psycopg

    db = psycopg.connect(url, autocommit=True)
    line_table = "(run_id int, seq bigint, rank int, stream text, text text, at timestamptz"
    layouts = {
        "row per line, 3 indexes (before), COPY": [
            f"create table l(id bigserial primary key, {line_table[1:]})",
            "create unique index u on l(run_id, seq)",
            "create index r on l(run_id, rank, seq)",
        ],
        "row per line, primary key (run, seq) only, COPY": [f"create table l{line_table}, primary key(run_id, seq))"],
        "a row per batch (LogChunk)": [
            "create table ch(id bigserial primary key, run_id int, first_seq bigint, last_seq bigint, "
            "ranks text, stamps text, lines text)",
            "create unique index u on ch(run_id, first_seq)",
        ],
    }
    for name, ddl in layouts.items():
        db.execute("drop table if exists l")
        db.execute("drop table if exists ch")
        for statement in ddl:
            db.execute(statement)

        def step(first: int, name: str = name) -> None:
            with db.transaction():
                if name.startswith("a row per batch"):
                    db.execute("insert into ch(run_id, first_seq, last_seq, ranks, stamps, lines) "
                               "values (%s, %s, %s, %s, %s, %s) on conflict do nothing", chunk(first))  # fmt: skip
                else:
                    with db.cursor() as cur, cur.copy("copy l (run_id, seq, rank, stream, text, at) from stdin") as cp:
                        for row in rows(first):
                            cp.write_row(row)

        cpu, wall = timed(step)
        table = "ch" if name.startswith("a row per batch") else "l"
        size = db.execute(f"select pg_total_relation_size('{table}')").fetchone()[0]  # type: ignore[index]
        print(f"| PostgreSQL | {name} | {cpu:.2f} | {wall:.2f} | {size / (N * BATCHES):.0f} |")
    db.execute("drop table if exists l")
    db.execute("drop table if exists ch")
    db.close()


def files(workdir: Path) -> None:
    log, index = open(workdir / "rank0.log", "ab"), open(workdir / "rank0.idx", "a")  # noqa: SIM115

    def step(first: int) -> None:
        data = "".join(text(first + i) + "\n" for i in range(N)).encode()
        index.write(f"{first} {log.tell()}\n")
        log.write(data)
        log.flush()
        index.flush()

    cpu, _ = timed(step)
    log.close()
    index.close()
    size = (workdir / "rank0.log").stat().st_size + (workdir / "rank0.idx").stat().st_size
    print(f"| file | append-only file per rank + seq index (text only) | {cpu:.2f} | – | {size / (N * BATCHES):.0f} |")


def main() -> None:
    print(f"load {os.getloadavg()[0]:.1f}; {BATCHES} batches of {N} lines")
    print("| database | layout | CPU µs/line (this process) | wall µs/line | bytes/line |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="runyard-log-schemas-") as workdir:
        sqlite(Path(workdir))
        files(Path(workdir))
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        postgres(os.environ["DATABASE_URL"])


if __name__ == "__main__":
    main()
