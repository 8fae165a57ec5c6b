"""Django's SQLite backend, keeping closed connections open for the next user.

Opening a SQLite connection costs ~0.5 ms of CPU (Django registers its SQL functions
and runs the PRAGMAs of ``init_command`` on every connection): 6.5% of the web
process's CPU on the run list, paid by every request. ``CONN_MAX_AGE`` cannot help the
web process: under ASGI each request runs in a context of its own, so Django's
per-thread (per-context) persistent connections would be left behind, one per request.
Instead ``close()`` hands the sqlite3 connection to a small per-process pool and the
next ``connect()``, in any thread, takes it back, already set up. Django opens every
connection with ``check_same_thread=False`` and one ``DatabaseWrapper`` uses it at a
time, so moving one between threads is safe.

A pooled connection is handed out only
- in the process that opened it: SQLite must not use a connection across ``fork()``
  (Celery's pool processes): a child leaves its parent's connections alone, neither
  using nor closing them (closing could checkpoint and delete the WAL under the parent);
- while the database file is still the one it was opened on (same device and inode):
  a test database that was deleted and created again, or a restored file, gets fresh
  connections;
- with no transaction open (anything left open is rolled back when it is returned).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any

from django.db.backends.sqlite3 import base

MAX_IDLE = 8  # idle connections kept per process and database file


@dataclass
class _Idle:
    conn: sqlite3.Connection
    file: tuple[int, int]  # (st_dev, st_ino) when it was opened


class _Pool:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.idle: dict[str, list[_Idle]] = {}
        self.files: dict[int, tuple[int, int]] = {}  # id(conn) -> file, for connections in use
        self.inherited: list[Any] = []  # a parent's connections: kept, never used or closed

    def _after_fork(self) -> None:
        if self.pid != os.getpid():
            self.inherited.append((self.idle, self.files))
            self.idle, self.files, self.pid = {}, {}, os.getpid()

    def take(self, name: str) -> sqlite3.Connection | None:
        file = _file_of(name)
        with self.lock:
            self._after_fork()
            stack = self.idle.get(name, [])
            while stack:
                idle = stack.pop()
                if idle.file == file:
                    self.files[id(idle.conn)] = file
                    return idle.conn
                idle.conn.close()  # the file was replaced: this one points at the old one
        return None

    def opened(self, conn: sqlite3.Connection, name: str) -> None:
        file = _file_of(name)
        with self.lock:
            self._after_fork()
            if file is not None:
                self.files[id(conn)] = file

    def give(self, conn: sqlite3.Connection, name: str) -> bool:
        """Keep ``conn`` for the next ``take``; False: the caller closes it."""
        with self.lock:
            if self.pid != os.getpid():
                self.inherited.append(conn)  # opened before a fork: the parent's to close
                return True
            file = self.files.pop(id(conn), None)
            stack = self.idle.setdefault(name, [])
            if file is None or file != _file_of(name) or len(stack) >= MAX_IDLE:
                return False
            stack.append(_Idle(conn, file))
            return True


def _file_of(name: str) -> tuple[int, int] | None:
    try:
        st = os.stat(name)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


pool = _Pool()


class DatabaseWrapper(base.DatabaseWrapper):
    def _pooled(self) -> bool:
        return not self.is_in_memory_db()

    def get_new_connection(self, conn_params: Any) -> Any:
        name = str(self.settings_dict["NAME"])
        if self._pooled():
            conn = pool.take(name)
            if conn is not None:
                return conn
        conn = super().get_new_connection(conn_params)
        if self._pooled():
            pool.opened(conn, name)
        return conn

    def _close(self) -> None:
        conn = self.connection
        # Closed inside atomic(), Django keeps ``self.connection`` set (it rolls back at
        # the block's end): such a connection is really closed, never shared.
        if conn is not None and self._pooled() and not self.in_atomic_block:
            with self.wrap_database_errors:
                if conn.in_transaction:
                    conn.rollback()
            if pool.give(conn, str(self.settings_dict["NAME"])):
                return
        if conn is not None:  # what Django's _close does
            with self.wrap_database_errors:
                conn.close()
