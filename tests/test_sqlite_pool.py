"""SQLite connections are reused across requests and threads (config.pooled_sqlite3),
with WAL and the busy timeout set on each, and never across a fork or a replaced file."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite only")


def raw() -> sqlite3.Connection:
    connection.ensure_connection()
    conn = connection.connection
    assert isinstance(conn, sqlite3.Connection)
    return conn


def test_every_connection_has_wal_the_busy_timeout_and_foreign_keys(world: Any) -> None:
    assert world.alice.client.get("/api/runs/").status_code == 200  # the request closes its connection
    first = raw()
    assert first.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert first.execute("PRAGMA busy_timeout").fetchone() == (30000,)
    assert first.execute("PRAGMA foreign_keys").fetchone() == (1,)


@pytest.mark.django_db(transaction=True)
def test_connections_go_back_to_the_pool_and_come_out_in_another_thread() -> None:
    first = raw()
    connection.close()
    assert raw() is first  # the same sqlite3 connection, not a new one
    connection.close()
    seen: list[Any] = []

    def other_thread() -> None:
        seen.append(raw())
        connections.close_all()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen == [first]
    assert raw() is first  # and back again


@pytest.mark.django_db(transaction=True)
def test_an_open_transaction_is_rolled_back_when_the_connection_is_returned() -> None:
    from accounts.models import Team

    conn = raw()
    conn.execute("BEGIN")
    conn.execute("INSERT INTO accounts_team (name, slug, created_at) VALUES ('left', 'left', '2026-01-01')")
    connection.close()
    assert raw() is conn and not conn.in_transaction
    assert not Team.objects.filter(slug="left").exists()


@pytest.mark.django_db(transaction=True)
def test_a_replaced_database_file_gets_a_fresh_connection(tmp_path: Path) -> None:
    from config.pooled_sqlite3.base import pool

    name = str(tmp_path / "db.sqlite3")
    sqlite3.connect(name).close()
    first = sqlite3.connect(name, check_same_thread=False)
    pool.opened(first, name)
    assert pool.give(first, name)
    os.remove(name)
    sqlite3.connect(name).close()  # same path, another file
    assert pool.take(name) is None


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_neither_uses_nor_closes_its_parents_connections() -> None:
    first = raw()
    connection.close()  # idle in the pool
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: must get a connection of its own
        try:
            mine = raw()
            ok = mine is not first and mine.execute("SELECT 1").fetchone() == (1,)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert raw() is first and first.execute("SELECT 1").fetchone() == (1,)  # still open for the parent


@pytest.mark.django_db(transaction=True)
def test_a_connection_closed_inside_atomic_is_not_pooled() -> None:
    from django.db import DatabaseError, transaction

    from config.pooled_sqlite3.base import pool

    first = raw()
    with pytest.raises(DatabaseError), transaction.atomic():  # "Cannot operate on a closed database."
        connection.close()
        assert connection.connection is first  # Django keeps it until the block ends …
        connection.cursor().execute("SELECT 1")
    assert all(idle.conn is not first for stack in pool.idle.values() for idle in stack)  # … never pooled
    assert raw() is not first
