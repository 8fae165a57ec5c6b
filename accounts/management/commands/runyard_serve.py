"""Start the whole product: ASGI server (web, API, websockets), worker and beat.

The same processes as production; ``make run`` uses it with the embedded defaults.
Ctrl-C (or SIGTERM) stops every child by its pid, then the embedded Redis if it was
started for this data dir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.seed import ensure_admin, seed
from execution import sandbox


class Command(BaseCommand):
    help = "Migrate, seed, then run web + worker + beat until interrupted."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("RUNYARD_WORKER_CONCURRENCY", "4")))
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        seed()
        username, password = ensure_admin(password=os.environ.get("RUNYARD_ADMIN_PASSWORD") or None)
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Runyard is starting at {url}\n"
                f"  Sign in as {username} / {password or '(the password you set)'}\n"
                f"  API docs: {url}api/docs/   admin: {url}admin/\n"
                f"  Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}   "
                f"Redis: {'embedded' if settings.REDIS_EMBEDDED else 'external'}   data: {settings.DATA_DIR}\n"
            )
        )
        isolation = sandbox.status()
        line = f"  Local runs: {isolation.describe()}\n"
        self.stdout.write(self.style.SUCCESS(line) if isolation.sandboxed else self.style.ERROR(line))
        python = sys.executable
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Runs and SDKs reach the API here unless a public URL was configured.
        env.setdefault("RUNYARD_PUBLIC_URL", f"http://{options['host']}:{options['port']}")
        commands = [
            [
                python,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                options["host"],
                "--port",
                str(options["port"]),
                "--no-access-log",
                "--ws",
                "websockets",
            ],
        ]
        if not options["no_worker"]:
            commands += [
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-Q",
                    "runyard,compute.local",
                    "-n",
                    "runyard-local@%h",
                    "-c",
                    str(options["concurrency"]),
                    "--loglevel",
                    "INFO",
                ],
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "--loglevel",
                    "WARNING",
                    "-s",
                    str(settings.DATA_DIR / "celerybeat-schedule"),
                ],
            ]
        children = [subprocess.Popen(cmd, env=env) for cmd in commands]
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            if settings.REDIS_EMBEDDED:
                from config.embedded_redis import stop as stop_redis

                stop_redis(settings.DATA_DIR)
            self.stdout.write("Runyard stopped.")
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            raise SystemExit(1)
