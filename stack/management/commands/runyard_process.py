"""Become one of the stack's processes (web, worker or beat), as ``stack.processes``
spells it: docker-compose and other process managers start the production shape
through this command, so its command lines are the same as ``runyard_serve``'s."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from stack import processes


class Command(BaseCommand):
    help = "Exec the web server, a worker or beat with Runyard's own command line."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("process", choices=["web", "worker", "beat"])
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--queues", default=os.environ.get("RUNYARD_WORKER_QUEUES", processes.DEFAULT_QUEUES))
        parser.add_argument("--role", default="local", help="worker name part: runyard-<role>-<nonce>@host")
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("RUNYARD_WORKER_CONCURRENCY", "4")))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["process"] == "web":
            argv = processes.web(options["host"], options["port"])
        elif options["process"] == "worker":
            node = processes.WorkerName.new(options["role"]).node()
            argv = processes.worker(node, options["queues"], options["concurrency"])
        else:
            argv = processes.beat(str(settings.DATA_DIR / "celerybeat-schedule"), loglevel="INFO")
        os.execv(argv[0], argv)
