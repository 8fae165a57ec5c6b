"""Start the whole product: ASGI server (web, API, websockets) and a worker with beat.

The same processes as production (command lines from ``stack.processes``); ``make
run`` uses it with the embedded defaults. It takes the data directory's instance lock
first (a second start on the same data dir refuses and touches nothing), migrates,
seeds and prints the banner, then *becomes* the lean supervisor (``os.execv`` into
``python -m stack.supervisor``, same pid, the lock's descriptor kept open): Django is
needed to prepare, not to keep children up, and a supervisor holding it would cost
~120 MB for nothing. The supervisor restarts a crashed web, worker or embedded Redis
with backoff; Ctrl-C (or SIGTERM) stops every child by its pid, then the embedded Redis.

Processes (``--no-worker``: web only, as docker-compose's ``web``):
- supervisor, web (uvicorn);
- worker: one Celery worker for the default queue and ``compute.local`` whose main
  process also runs beat's scheduler as a thread (``--beat-thread``; safe because this
  is the data directory's one worker), with an autoscaled pool (``stack.pool``);
- the embedded Redis when ``REDIS_URL`` is unset.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from execution import sandbox
from stack import instance, pool, processes
from stack.seed import ensure_admin, seed
from stack.supervisor import ChildPlan, Plan


class Command(BaseCommand):
    help = "Migrate, seed, then run web + worker (with beat) until interrupted, restarting what crashes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        fixed = os.environ.get("RUNYARD_WORKER_CONCURRENCY")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=int(fixed) if fixed else None,
            help="a fixed pool size (default: autoscaled to the local target's capacity, see stack.pool)",
        )
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        url = f"http://{options['host']}:{options['port']}/"
        try:
            lock = instance.acquire(settings.DATA_DIR, url)
        except instance.AlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        try:
            plan = self._prepare(url, options)
            path = settings.DATA_DIR / "stack-plan.json"
            plan.dump(path)
            fd = lock.inherit()
        except BaseException:
            lock.release()
            raise
        connections.close_all()
        self.stdout.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "stack.supervisor", str(path), "--lock-fd", str(fd)])

    def _prepare(self, url: str, options: dict[str, Any]) -> Plan:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        seed()
        username, password = ensure_admin(password=os.environ.get("RUNYARD_ADMIN_PASSWORD") or None)
        children = [ChildPlan("web", processes.web(options["host"], options["port"]))]
        workers = "none (--no-worker)"
        if not options["no_worker"]:
            if options["concurrency"]:
                argv = processes.worker(processes.NODE, concurrency=options["concurrency"], beat_thread=True)
                workers = f"{options['concurrency']} pool processes, beat in the worker"
            else:
                size = pool.for_queues()
                argv = processes.worker(processes.NODE, autoscale=size.autoscale(), beat_thread=True)
                workers = f"{size.describe()}, beat in the worker"
            children.append(ChildPlan("worker", argv, node_role="local"))
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Runyard is starting at {url}\n"
                f"  Sign in as {username} / {password or '(the password you set)'}\n"
                f"  API docs: {url}api/docs/   admin: {url}admin/\n"
                f"  Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1].removeprefix('pooled_')}   "
                f"Redis: {'embedded' if settings.REDIS_EMBEDDED else 'external'}   data: {settings.DATA_DIR}\n"
                f"  Worker: {workers}\n"
            )
        )
        isolation = sandbox.status()
        line = f"  Local runs: {isolation.describe()}\n"
        self.stdout.write(self.style.SUCCESS(line) if isolation.sandboxed else self.style.ERROR(line))
        # Runs and SDKs reach the API here unless a public URL was configured; the
        # supervisor's children inherit this environment across the exec.
        os.environ["PYTHONUNBUFFERED"] = "1"
        os.environ.setdefault("RUNYARD_PUBLIC_URL", url.rstrip("/"))
        return Plan(str(settings.DATA_DIR), bool(settings.REDIS_EMBEDDED), children)
