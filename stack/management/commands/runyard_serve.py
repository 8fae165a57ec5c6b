"""Start the whole product: ASGI server (web, API, websockets), worker and beat.

The same processes as production (command lines from ``stack.processes``); ``make
run`` uses it with the embedded defaults. It takes the data directory's instance lock
first (a second start on the same data dir refuses and touches nothing), then
supervises its children (``stack.supervisor``): a crashed web, worker, beat or
embedded Redis is restarted with backoff; Ctrl-C (or SIGTERM) stops every child by its
pid, then the embedded Redis.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from execution import sandbox
from stack import instance, processes
from stack.seed import ensure_admin, seed
from stack.supervisor import Supervisor


class Command(BaseCommand):
    help = "Migrate, seed, then run web + worker + beat until interrupted, restarting what crashes."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--concurrency", type=int, default=int(os.environ.get("RUNYARD_WORKER_CONCURRENCY", "4")))
        parser.add_argument("--no-worker", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        url = f"http://{options['host']}:{options['port']}/"
        try:
            lock = instance.acquire(settings.DATA_DIR, url)
        except instance.AlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        try:
            self._serve(url, options)
        finally:
            lock.release()

    def _serve(self, url: str, options: dict[str, Any]) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        seed()
        username, password = ensure_admin(password=os.environ.get("RUNYARD_ADMIN_PASSWORD") or None)
        self.stdout.write(
            self.style.SUCCESS(
                f"\n  Runyard is starting at {url}\n"
                f"  Sign in as {username} / {password or '(the password you set)'}\n"
                f"  API docs: {url}api/docs/   admin: {url}admin/\n"
                f"  Database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1].removeprefix('pooled_')}   "
                f"Redis: {'embedded' if settings.REDIS_EMBEDDED else 'external'}   data: {settings.DATA_DIR}\n"
            )
        )
        isolation = sandbox.status()
        line = f"  Local runs: {isolation.describe()}\n"
        self.stdout.write(self.style.SUCCESS(line) if isolation.sandboxed else self.style.ERROR(line))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Runs and SDKs reach the API here unless a public URL was configured.
        env.setdefault("RUNYARD_PUBLIC_URL", url.rstrip("/"))
        supervisor = Supervisor(env, lambda text: self.stdout.write(f"[runyard] {text}"))
        if settings.REDIS_EMBEDDED:
            from config.embedded_redis import alive, ensure_running, socket_path

            def restart_redis() -> None:
                ensure_running(settings.DATA_DIR)

            supervisor.add_check(
                "embedded Redis", alive=lambda: alive(socket_path(settings.DATA_DIR)), restart=restart_redis
            )
        supervisor.add("web", processes.web(options["host"], options["port"]))
        if not options["no_worker"]:
            concurrency = options["concurrency"]

            def worker() -> list[str]:
                return processes.worker(processes.WorkerName.new().node(), concurrency=concurrency)

            supervisor.add("worker", worker)
            supervisor.add("beat", processes.beat(str(settings.DATA_DIR / "celerybeat-schedule")))

        def stop(signum: int, frame: Any) -> None:
            supervisor.stop()

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            reason = supervisor.run()
        finally:
            if settings.REDIS_EMBEDDED:
                from config.embedded_redis import stop as stop_redis

                stop_redis(settings.DATA_DIR)
            self.stdout.write("Runyard stopped.")
        if reason:
            raise SystemExit(1)
