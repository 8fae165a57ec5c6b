"""What a pool process does between and around runs: its database connection across
tasks, and finding a launcher's processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from config.celery import app
from execution.backends import procs
from execution.tasks import check_connections

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))  # a task as a worker runs it


@pytest.mark.django_db(transaction=True)
def test_a_pool_process_keeps_its_connection_across_tasks_until_it_is_obsolete() -> None:
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    first = connection.connection
    for _ in range(3):  # what the worker does around each task
        fixup.on_task_prerun(sender=TASK)
        check_connections(sender=TASK)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        fixup.on_task_postrun(sender=TASK)
        # Not closed (a closed wrapper holds None): no new connection, on PostgreSQL a
        # backend fork, per run.
        assert connection.connection is first
    connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    check_connections(sender=TASK)
    assert connection.connection is None  # an obsolete connection is not kept
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_descendants_finds_a_launchers_whole_tree_as_psutil_does() -> None:
    tree = "import subprocess, time; subprocess.Popen(['sleep', '30']); time.sleep(30)"
    root = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess; subprocess.Popen([{sys.executable!r}, '-c', {tree!r}]); import time; time.sleep(30)",
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while len(procs.descendants(root.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = sorted(procs.descendants(root.pid))
        assert len(found) == 2
        assert found == sorted(procs._descendants_psutil(root.pid))
    finally:
        for pid in [*procs.descendants(root.pid), root.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        root.wait()
    assert procs.descendants(root.pid) == []  # gone: nothing below it
