"""Executes one run through its whole lifecycle on the worker that claimed it.

Claim: in one transaction, with the target row locked on PostgreSQL (SQLite's immediate
transactions serialise this), ask the scheduler (``scheduling.service``) whether this
run starts now and, if so, move it Queued → Preparing with a conditional update. Only one worker can win
that update, so a redelivered task or a restarted worker never runs a run twice.

Then: Preparing (snapshot, inputs, environment) → Starting (ranks launched) →
Running (every rank exists) → Finalizing (outputs collected) → Completed / Failed.
A heartbeat thread stamps the run every few seconds and watches for CancelRequested;
cancel and the time limit stop every rank's process group with SIGTERM, wait the
grace period, then SIGKILL whatever is left. Any unexpected error fails the run with
its traceback; nothing leaves a run Running after its processes are gone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import CharField, Func, Value
from django.utils import timezone

from audit.services import record
from compute.configs import ConfigError
from config.masking import Masker
from datasets.tabular.services import tabular_inputs
from environments import secrets as env_secrets
from environments.builder import BuildCanceled, BuildFailed
from execution import materialize, preempted
from execution.backends import get_backend
from execution.backends.base import Backend, Job, Limits, Prepared, RunContext, Target
from execution.plan import PlanError
from execution.sandbox import SandboxUnavailable
from execution.sysmetrics import Sampler
from mlflow_api import env as mlflow_env
from runs import artifacts, attempts, causes, events, logstore, metricstore, policy, snapshots
from runs.causes import Cause, Ending, ending
from runs.distributed import Shape
from runs.lifecycle import IllegalTransition, transition
from runs.logstore import LogWriter
from runs.models import Run, RunProcess, RunToken
from runs.status import ACTIVE, TERMINAL, Status
from scheduling import preemptor
from scheduling import service as scheduler

log = logging.getLogger(__name__)

# Variables of the worker that a run may inherit; everything else (DATABASE_URL,
# SECRET_KEY, cloud credentials …) stays out of user code.
INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "OMPI_MCA_btl",
    "SLURM_CONF",
)


# Expected failures while preparing a run: each fails it with its cause (Execution.explain).
PREPARATION_ERRORS = (
    BuildFailed,
    materialize.InputError,
    ConfigError,
    SandboxUnavailable,
    PlanError,
    env_secrets.MissingTeamSecret,
)


class Stopped(Exception):
    """The run was canceled or hit its time limit while being prepared or run."""


class ClaimFailed(Exception):
    """The claim could not be attempted (the database refused or dropped the
    connection); the run is untouched and still Queued."""


def claim(run_id: int, worker: str) -> str:
    """'claimed', 'busy' (no capacity yet: try later) or 'gone' (not Queued any more).

    Raises ClaimFailed when the database could not be asked."""
    return claim_run(run_id, worker)[0]


def claim_run(run_id: int, worker: str) -> tuple[str, Run | None]:
    """``claim``, and the claimed run with the rows executing it reads (``EXECUTED_WITH``)."""
    try:
        return _claim(run_id, worker)
    except DatabaseError as exc:
        close_old_connections()
        raise ClaimFailed(str(exc)) from exc


# How long a claim waits for the target's row lock (PostgreSQL) before it gives up and
# is retried with backoff, instead of holding a worker slot behind a stuck transaction.
CLAIM_LOCK_TIMEOUT = "5s"
# What an Execution reads with its run (the claim's move reads the run with them).
EXECUTED_WITH = ("compute_target", "environment_version__environment", "experiment", "team")


def _claim(run_id: int, worker: str) -> tuple[str, Run | None]:
    with transaction.atomic():
        # The run with what executing it reads, and its target's row lock, in one statement
        # (SQLite's immediate transaction serialises instead). Only the target is locked:
        # locking the run before it inverts the order of a transaction that inserts a run
        # (key-share lock on the target) and then writes a waiting one (a sweep stopping a
        # child), and the two can deadlock.
        # After a wait for the lock the run's columns are the statement's snapshot: the move's
        # conditional UPDATE checks status and worker again, and nothing else a claim uses
        # changes while a run waits. The lock timeout is set by the same statement
        # (set_config, local to the transaction, runs before any row is locked).
        # (A target is required: the condition on its column makes its join an inner one,
        # which PostgreSQL needs to lock its row.)
        runs = Run.objects.select_related(*EXECUTED_WITH).filter(pk=run_id, compute_target__name__isnull=False)
        if connection.vendor == "postgresql":
            setting = (Value("lock_timeout"), Value(CLAIM_LOCK_TIMEOUT), Value(True))
            timeout = Func(*setting, function="set_config", output_field=CharField())
            runs = runs.alias(lock_timeout=timeout).filter(lock_timeout=CLAIM_LOCK_TIMEOUT)
        run = runs.select_for_update(of=("compute_target",)).first()
        if run is None or run.compute_target is None or run.status != Status.QUEUED or run.worker:
            return "gone", None
        if not scheduler.may_start(run.compute_target, run_id):
            return "busy", None  # priority, fair share, quotas and capacity: scheduling.policy
        try:
            claimed = transition(
                run_id,
                Status.PREPARING,
                reason=f"claimed by {worker}",
                only_from={Status.QUEUED},
                where={"worker": ""},
                expect=run,  # read above: returned with the move's columns
                fields={"worker": worker, "worker_pid": os.getpid(), "heartbeat_at": timezone.now()},
            )
        except IllegalTransition:
            return "gone", None
        attempts.opened(run_id, worker, claimed)
    return "claimed", claimed


class Heartbeat(threading.Thread):
    """Stamps the run's heartbeat and notices cancel requests and outside endings."""

    def __init__(self, run_id: int) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.run_id = run_id
        self.cancel = threading.Event()
        self.preempt = threading.Event()  # the scheduler marked the run (scheduling.preemptor)
        self.stop_event = threading.Event()
        self.reason = ""

    def run(self) -> None:
        every = float(settings.RUNYARD["HEARTBEAT_SECONDS"])
        last_beat = 0.0
        try:
            while not self.stop_event.wait(0.2):
                try:
                    now = time.monotonic()
                    if now - last_beat >= every:
                        Run.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
                        last_beat = now
                    status, reason, preempt = (
                        Run.objects.filter(pk=self.run_id)
                        .values_list("status", "status_reason", "preempt_requested_at")
                        .get()
                    )
                    if status == Status.CANCEL_REQUESTED or status in TERMINAL:
                        self.reason = reason
                        self.cancel.set()
                    elif preempt is not None:
                        self.preempt.set()
                except Exception:
                    log.warning("heartbeat of run %s failed", self.run_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()


class Execution:
    def __init__(self, run_id: int, run: Run | None = None) -> None:
        # ``run``: as the claim read it, with EXECUTED_WITH (resume reads it here).
        self.run = run if run is not None else Run.objects.select_related(*EXECUTED_WITH).get(pk=run_id)
        self.writer = LogWriter(
            run_id,
            start_seq=self.run.log_seq,
            mask=Masker(env_secrets.masked_values(self.run.environment_version, self.run.team)),
        )
        self.heartbeat = Heartbeat(run_id)
        self.stderr_tail: deque[str] = deque(maxlen=20)
        self.time_limit_hit = False
        self.hang_hit = False
        self.preempt_hit = False
        self.killed = False  # the last stop needed SIGKILL
        self.checkpoint_dir: Path | None = None
        self.idle_seconds = 0.0
        self.hang_timeout = policy.parse(self.run.failure_policy).hang_timeout_seconds
        self.last_activity: float | None = None  # monotonic time of the last line (hang watch)
        self.deadline: float | None = None
        self.backend: Backend[Any, Any] | None = None
        self.ctx: RunContext[Any] | None = None
        self.prepared: Prepared | None = None  # once the environment is ready
        self.torn_down = False
        self.workdir = Path(settings.RUNYARD["WORK_DIR"]) / str(run_id)

    # ---- helpers -------------------------------------------------------------------
    def canceled(self) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.time_limit_hit = True
            return True
        if self.hung():
            return True
        if self.heartbeat.cancel.is_set():
            return True
        if self.heartbeat.preempt.is_set():
            self.preempt_hit = True
            return True
        return False

    def hung(self) -> bool:
        """No line and no metric for ``hang_timeout`` seconds since the ranks started."""
        if self.hang_hit:
            return True
        if not self.hang_timeout or self.last_activity is None:
            return False
        idle = time.monotonic() - self.last_activity
        if idle < self.hang_timeout:
            return False
        # Metrics arrive through the API, not through this process: ask once the lines went quiet.
        last_metric = metricstore.last_logged_at(self.run.pk)
        if last_metric is not None:
            since = (timezone.now() - last_metric).total_seconds()
            if since < self.hang_timeout:
                self.last_activity = time.monotonic() - since
                return False
        self.hang_hit = True
        self.idle_seconds = round(idle, 1)
        return True

    def write_log(self, rank: int, stream: str, text: str) -> None:
        if self.last_activity is not None:
            self.last_activity = time.monotonic()
        if stream == "stderr":
            text_ = self.writer.mask(text)
            self.stderr_tail.append(text_ if rank < 0 else f"[rank {rank}] {text_}")
        self.writer.write(rank, stream, text)

    def write_logs(self, rank: int, stream: str, texts: list[str]) -> None:
        """``write_log`` of a pipe read's lines in one call (``LogWriter.write_many``)."""
        if self.last_activity is not None:
            self.last_activity = time.monotonic()
        if stream == "stderr":
            for text in texts[-(self.stderr_tail.maxlen or 0) :]:
                text_ = self.writer.mask(text)
                self.stderr_tail.append(text_ if rank < 0 else f"[rank {rank}] {text_}")
        self.writer.write_many(rank, stream, texts)

    def move(self, to: str, reason: str = "", **fields: Any) -> None:
        try:
            # The run as this process last moved it: no read first unless its status changed,
            # and no re-read after (this process reads back only what it moves).
            self.run = transition(self.run.pk, to, reason=reason, fields=fields, expect=self.run)
        except IllegalTransition as exc:
            if exc.current in (Status.CANCEL_REQUESTED, *TERMINAL):
                raise Stopped() from None
            raise

    def point_at_build(self, backend: Backend[Any, Any], ctx: RunContext[Any]) -> RunContext[Any]:
        """Link the run to the build its environment gets before building it, so its
        "Environment build" tab follows the build from Preparing on; watchers hear of it
        (a status message with an unchanged status). Not for a build that is done: then
        the context to prepare with carries the row (the backend need not read it again)."""
        build = backend.build_record(ctx.env_version, ctx.target.config, ctx.shape)
        if build.status == build.Status.SUCCEEDED and build.path and Path(build.path).is_dir():
            # A cache hit: there is no build to follow, and the move to Starting stores the
            # link in its own write (one commit less before the launch).
            return dataclasses.replace(ctx, build=build)
        if Run.objects.filter(pk=self.run.pk).exclude(build_id=build.pk).update(build_id=build.pk):
            self.run.build_id = build.pk
            events.status_changed(self.run, self.run.status)
        return ctx

    # ---- the lifecycle -------------------------------------------------------------
    def execute(self) -> None:
        run = self.run
        if run.max_run_duration_seconds:
            self.deadline = time.monotonic() + run.max_run_duration_seconds
        self.heartbeat.start()
        ctx: RunContext[Any] | None = None
        try:
            # Inside the try: a target that cannot even name a run directory (a Slurm
            # target without shared_dir, saved before configs were validated) must fail
            # the run saying why, not leave it Preparing with a live heartbeat.
            backend = self.backend = get_backend(run.target.kind)
            target = Target.of(run.target)  # raises ConfigError naming the key
            workdir = self.workdir = backend.workdir(run.pk, target.config)
            self.writer.system(f"Preparing run {run.pk} on {run.target.name} ({run.worker}).")
            materialize.release(run, workdir)  # mounts a crashed earlier attempt left behind
            shutil.rmtree(workdir, ignore_errors=True)
            files = snapshots.extract(run.snapshot_sha256, workdir)
            (workdir / "outputs").mkdir(exist_ok=True)
            self.writer.system(f"Snapshot extracted: {len(files)} files.")
            self.resume_state(backend, target)
            arguments, inputs_env, mounts = materialize.inputs(run, workdir, self.writer.system)
            token_row, token = RunToken.mint(run)
            env = self.run_env(token, inputs_env, backend.sdk_dir(target.config))
            entry = [str(a) for a in (run.command or [run.script])] + arguments
            ctx = self.ctx = self.context(target, entry, env, mounts)
            if self.canceled():
                raise Stopped()
            backend.preflight(ctx)
            ctx = self.ctx = self.point_at_build(backend, ctx)
            prepared = self.prepared = backend.prepare_environment(ctx)
            # Recorded with the move to Starting (one write less before the launch),
            # or alone when the run stops before it gets there.
            try:
                if self.canceled():
                    raise Stopped()
                # The run token is stored with the move (one commit): nothing uses it
                # before the ranks start.
                with transaction.atomic():
                    token_row.save()
                    self.move(Status.STARTING, "environment ready", build_id=prepared.build_id)
            except Stopped:
                Run.objects.filter(pk=run.pk).update(build_id=prepared.build_id)
                raise
            job = backend.start(ctx, prepared)
            self.watch(job)
        except Stopped:
            self.end_stopped()
        except BuildCanceled:
            self.end_stopped()
        except PREPARATION_ERRORS as exc:
            self.fail(*self.explain(exc))
        except Exception as exc:  # netbox-style: an unexpected error fails the run with its traceback
            log.exception("run %s failed in the executor", run.pk)
            self.writer.system("Runyard error:\n" + traceback.format_exc())
            if self.heartbeat.cancel.is_set() or self.time_limit_hit or self.hang_hit:
                self.end_stopped()
            else:
                error = f"Runyard error while executing the run: {exc}"
                self.fail(error, ending(Cause.INFRASTRUCTURE, error[:300], log_tail=traceback.format_exc()[-4000:]))
        finally:
            self.heartbeat.stop_event.set()
            self.teardown()
            self.heartbeat.join(timeout=5)
            self.drop_checkpoint_dir()
            self.after()

    def after(self) -> None:
        """Once the run ended: the target's next runs may start, and the backend prepares
        for them (the local backend's held launches) off this run's path."""
        from runs.dispatch import kick_queue

        kick_queue(self.run.target.pk)
        self.prepare_next()

    def prepare_next(self) -> None:
        if self.backend is not None:
            try:
                self.backend.prepare_next()
            except Exception:
                log.warning("run %s: preparing for the next runs failed", self.run.pk, exc_info=True)

    def resume_state(self, backend: Backend[Any, Any], target: Target[Any]) -> None:
        """The checkpoint dir (kept across attempts) and, for a later attempt, the outputs/
        earlier attempts left."""
        run = self.run
        self.checkpoint_dir = backend.checkpoint_dir(run.pk, target.config)
        preempted.prepare_checkpoint_dir(self.checkpoint_dir)
        if run.attempt > 1:
            kept = preempted.restore_outputs(run, self.workdir / "outputs")
            if kept:
                self.writer.system(f"Attempt {run.attempt}: {kept} output file(s) of earlier attempts restored.")

    def explain(self, exc: Exception) -> tuple[str, Ending]:
        """The error text and cause of an expected failure while preparing the run."""
        if isinstance(exc, BuildFailed):
            error = f"Environment build failed: {exc}\n{exc.log_tail}".strip()
            return error, ending(Cause.ENVIRONMENT_BUILD, f"Environment build failed: {exc}"[:300], log_tail=error)
        if isinstance(exc, materialize.InputError):
            return str(exc), ending(Cause.INPUT_MATERIALIZATION, str(exc)[:300])
        if isinstance(exc, ConfigError):
            error = f"Compute target '{self.run.target.name}' has an invalid config: {exc}"
            return error, ending(Cause.INFRASTRUCTURE, error[:300])
        if isinstance(exc, SandboxUnavailable):
            return str(exc), ending(Cause.INFRASTRUCTURE, str(exc)[:300])
        # PlanError, MissingTeamSecret: the run asks for what cannot be given.
        return str(exc), ending(Cause.USER_ERROR, str(exc)[:300])

    def resume(self) -> None:
        """Watch a run a previous worker started, when its backend can re-attach
        (a Slurm job outlives the worker); otherwise fail it as worker lost."""
        run = self.run
        backend = get_backend(run.target.kind)
        target = Target.of(run.target)
        self.workdir = backend.workdir(run.pk, target.config)
        if run.max_run_duration_seconds and run.starting_at:
            elapsed = (timezone.now() - run.starting_at).total_seconds()
            self.deadline = time.monotonic() + run.max_run_duration_seconds - elapsed
        ctx = self.context(target, [run.script], {}, [])
        self.backend, self.ctx = backend, ctx
        job = backend.reattach(ctx, run.backend_state or {})
        self.heartbeat.start()
        try:
            if job is None:
                error = "The worker running this run was lost and the run cannot be resumed."
                self.fail(error, ending(Cause.WORKER_LOST, error))
                return
            self.writer.system(f"Worker {run.worker} re-attached to the run after a restart.")
            self.watch(job)
        except Stopped:
            self.end_stopped()
        except Exception as exc:
            log.exception("resuming run %s failed", run.pk)
            error = f"Runyard error while resuming the run: {exc}"
            self.fail(error, ending(Cause.INFRASTRUCTURE, error[:300]))
        finally:
            self.heartbeat.stop_event.set()
            self.teardown()
            self.heartbeat.join(timeout=5)

    def context(
        self, target: Target[Any], entry: list[str], env: dict[str, str], mounts: list[tuple[Path, str, bool]]
    ) -> RunContext[Any]:
        """What the backend is told about the run: backends never read its rows."""
        run = self.run
        return RunContext(
            run_id=run.pk,
            workdir=self.workdir,
            entrypoint=entry,
            is_command=bool(run.command),
            shape=Shape.of(run.distributed),
            env_version=run.env_version,
            env=env,
            target=target,
            limits=Limits(run.max_run_duration_seconds),
            write_log=self.write_log,
            write_logs=self.write_logs,
            system_log=self.writer.system,
            canceled=self.canceled,
            stored_lines=lambda keep: logstore.count(run.pk, keep),
            active_job_ids=lambda: target_job_ids(target.id),
            mounts=mounts,
            checkpoint_dir=self.checkpoint_dir,
        )

    def drop_checkpoint_dir(self) -> None:
        """A run that ended for good (not requeued to resume) needs no checkpoint any more."""
        if self.checkpoint_dir is None:
            return
        if Run.objects.filter(pk=self.run.pk, status__in=TERMINAL).exists():
            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)

    def teardown(self) -> None:
        """Release everything the run held (containers, mounts, its directory) and
        store its last lines: done before the final status, so an ended run holds
        nothing. Safe to call again."""
        if self.torn_down:
            return
        self.torn_down = True
        if self.backend is not None and self.ctx is not None:
            try:
                self.backend.cleanup(self.ctx, self.prepared)
            except Exception:
                log.warning("cleanup of run %s failed", self.run.pk, exc_info=True)
        self.writer.close()
        self.release_workdir()

    def release_workdir(self) -> None:
        """Unmount dataset mounts, then remove the run's directory."""
        try:
            materialize.release(self.run, self.workdir)
        except Exception:
            log.warning("releasing the inputs of run %s failed", self.run.pk, exc_info=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def run_env(self, token: str, inputs_env: dict[str, str], sdk_dir: Path) -> dict[str, str]:
        run = self.run
        env = {k: v for k, v in os.environ.items() if k in INHERITED}
        # Before the environment's own variables: a spec naming its own MLflow server wins.
        env.update(mlflow_env.run_variables(settings.PUBLIC_URL, run.pk, run.experiment_id, token))
        env.update(env_secrets.run_variables(run.environment_version, run.team))
        sdk = str(sdk_dir)
        env.update(
            {
                "RUNYARD_RUN_ID": str(run.pk),
                "RUNYARD_ATTEMPT": str(run.attempt),
                "RUNYARD_URL": settings.PUBLIC_URL,
                "RUNYARD_RUN_TOKEN": token,
                "RUNYARD_EXPERIMENT": run.experiment.name,
                "RUNYARD_INPUTS": json.dumps(inputs_env),
                # Tabular inputs' definitions: input_datasets[name] reads the files with them.
                # Every input has its path in inputs_env: without one, no query.
                "RUNYARD_TABULAR_INPUTS": json.dumps(tabular_inputs(run) if inputs_env else {}),
                # Azure ML's names for the same paths, for scripts that read them.
                **{f"AZUREML_DATAREFERENCE_{name}": path for name, path in inputs_env.items()},
                "PYTHONPATH": sdk + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.checkpoint_dir is not None:
            # Preemption (issue 22): the SDK's SIGTERM handler reads the notice and the grace.
            env.update(
                {
                    "RUNYARD_CHECKPOINT_DIR": str(self.checkpoint_dir),
                    "RUNYARD_PREEMPTIBLE": "1" if run.preemptible else "0",
                    "RUNYARD_PREEMPT_GRACE_SECONDS": f"{preemptor.timing(run.target.pk).grace_seconds:g}",
                    "RUNYARD_PREEMPT_NOTICE": str(preempted.notice_path(self.workdir)),
                }
            )
        return env

    def watch(self, job: Job) -> None:
        run = self.run
        try:
            Run.objects.filter(pk=run.pk).update(backend_state=job.state())
            self.prepare_next()  # after the state names the launch's processes
            self.record_processes(job)
            code: int | None = None
            while code is None and not job.all_started():
                if self.canceled():
                    self.stop(job)
                    raise Stopped()
                self.note_pending(job.pending_reason())
                code = job.poll()
                time.sleep(0.02)
            self.record_processes(job)
            Run.objects.filter(pk=run.pk).update(backend_state=job.state())
            self.last_activity = time.monotonic()  # the hang clock starts with the ranks
            try:
                if Run.objects.filter(pk=run.pk).values_list("status", flat=True).get() != Status.RUNNING:
                    self.move(Status.RUNNING, "every rank started")
            except Stopped:
                self.stop(job)
                raise
            saved = time.monotonic()
            sampler = Sampler(run.pk, float(settings.RUNYARD["SYSTEM_METRICS_SECONDS"]))
            sampler.start(job.processes())
            while code is None:
                if self.canceled():
                    self.stop(job)
                    raise Stopped()
                code = job.poll()
                if code is None:
                    sampler.maybe_sample(job.processes)
                if code is None:
                    time.sleep(0.05)
                if time.monotonic() - saved > 2:
                    # Ranks may spawn helpers later; a restarted worker must find them all.
                    Run.objects.filter(pk=run.pk).update(backend_state=job.state())
                    saved = time.monotonic()
            # Every launcher exited; ranks that outlived it are stopped too.
            if job.alive():
                self.stop(job, quiet=True)
        finally:
            job.close()
            self.record_processes(job, ended=True)
            # Everything was waited for: nothing is left for a restarted worker to reap.
            Run.objects.filter(pk=run.pk).update(backend_state={**job.state(), "reaped": True})
        self.finalize(code, job.end_reason(), job.end_cause() if code else None, job.memory_limit())

    def note_pending(self, reason: str | None) -> None:
        """A cluster scheduler holds the job: show the run Queued with its reason."""
        if reason is None:
            return
        text = f"waiting in the cluster queue: {reason}"
        current = Run.objects.filter(pk=self.run.pk).values_list("status", "status_reason").get()
        if current == (Status.QUEUED, text):
            return
        if current[0] == Status.STARTING:
            self.move(Status.QUEUED, text)
            self.writer.system(f"The job is pending ({reason}).")
        elif current[0] == Status.QUEUED:
            Run.objects.filter(pk=self.run.pk, status=Status.QUEUED).update(status_reason=text)
            from runs import events

            events.status_changed(Run.objects.get(pk=self.run.pk), Status.QUEUED)

    def record_processes(self, job: Job, ended: bool = False) -> None:
        now = timezone.now()
        for info in job.processes():
            RunProcess.objects.update_or_create(
                run_id=self.run.pk,
                rank=info.rank,
                defaults={
                    "node_rank": info.node_rank,
                    "local_rank": info.local_rank,
                    "role": info.role,
                    "host": info.host,
                    "pid": info.pid,
                    "exit_code": info.exit_code,
                    "status": "ended" if ended else "running",
                    **({"ended_at": now} if ended else {"started_at": now}),
                },
            )

    def stop(self, job: Job, quiet: bool = False) -> None:
        grace = float(settings.RUNYARD["CANCEL_GRACE_SECONDS"])
        self.killed = False
        if not quiet:
            why = "cancel requested"
            if self.time_limit_hit:
                why = "time limit reached"
            elif self.hang_hit:
                why = f"no output and no metric for {self.hang_timeout}s: the run hangs"
            elif self.preempt_hit and not self.heartbeat.cancel.is_set():
                grace = preemptor.timing(self.run.target.pk).grace_seconds
                mark = preempted.Mark.of(self.run.pk)
                why = mark.why
                preempted.write_notice(self.workdir, grace, mark)
            self.writer.system(f"Stopping ({why}): SIGTERM to every rank, {grace:g}s grace, then SIGKILL.")
        job.signal_all(signal.SIGTERM)
        end = time.monotonic() + grace
        while time.monotonic() < end and job.alive():
            time.sleep(0.05)
        if job.alive():
            self.writer.system("Grace period over: SIGKILL.")
            self.killed = True
            job.signal_all(signal.SIGKILL)
            end = time.monotonic() + 10
            while time.monotonic() < end and job.alive():
                time.sleep(0.05)
        job.poll()

    def finalize(
        self, code: int, end_reason: str | None = None, cause: Ending | None = None, memory_limit: int | None = None
    ) -> None:
        run = self.run
        self.move(Status.FINALIZING, f"processes exited with code {code}", exit_code=code)
        count = artifacts.collect(run, self.workdir / "outputs")
        if count:
            self.writer.system(f"Collected {count} output file(s).")
        upload_error = None
        if code == 0:
            try:
                materialize.upload_outputs(run, self.writer.system)
            except materialize.InputError as exc:
                upload_error = str(exc)
                self.writer.system(upload_error)
        self.teardown()
        if upload_error is not None:
            self.move(Status.FAILED, "an output could not be stored", error=upload_error)
        elif code == 0:
            self.move(Status.COMPLETED, "exit code 0")
        else:
            tail = "\n".join(self.stderr_tail)
            why = f"{end_reason}\n" if end_reason else ""
            end = cause or causes.from_exit(code, list(self.stderr_tail), memory_limit=memory_limit)
            self.move(
                Status.FAILED,
                end_reason or f"exit code {code}",
                error=f"{why}Exit code {code}.\n{tail}".strip(),
                **end.fields(),
            )

    def fail(self, error: str, end: Ending) -> None:
        self.writer.system(error.splitlines()[0] if error else "Failed.")
        self.teardown()
        try:
            transition(
                self.run.pk,
                Status.FAILED,
                reason=error.splitlines()[0][:500],
                fields={"error": error[-20000:], **end.fields()},
            )
        except IllegalTransition as exc:
            if exc.current == Status.CANCEL_REQUESTED:
                self.end_stopped()

    def end_stopped(self) -> None:
        if self.preempt_hit and not (self.heartbeat.cancel.is_set() or self.time_limit_hit or self.hang_hit):
            self.end_preempted()
            return
        self.teardown()
        current = Run.objects.filter(pk=self.run.pk).values_list("status", flat=True).get()
        if self.time_limit_hit and current not in TERMINAL and current != Status.CANCEL_REQUESTED:
            limit = self.run.max_run_duration_seconds
            error = f"The run exceeded its time limit of {limit} seconds and was stopped."
            transition(
                self.run.pk,
                Status.FAILED,
                reason=f"exceeded max_run_duration_seconds={limit}",
                fields={"error": error, **ending(Cause.TIME_LIMIT, error, limit_seconds=limit).fields()},
            )
            return
        if self.hang_hit and current not in TERMINAL and current != Status.CANCEL_REQUESTED:
            limit = self.hang_timeout
            error = f"The run printed nothing and logged no metric for {limit} seconds: stopped as hung."
            end = ending(Cause.HANG, error, limit_seconds=limit, idle_seconds=self.idle_seconds)
            transition(
                self.run.pk,
                Status.FAILED,
                reason=f"hang: no output and no metric for {limit}s",
                fields={"error": error, **end.fields()},
            )
            return
        if current == Status.CANCEL_REQUESTED:
            run = transition(self.run.pk, Status.CANCELED, reason=self.heartbeat.reason or "canceled")
            record("runs.run.canceled", actor=None, obj=run, changes={"reason": run.status_reason}, via="worker")

    def end_preempted(self) -> None:
        """Keep outputs/ and the checkpoint, end the attempt as preempted, requeue to resume."""
        mark = preempted.Mark.of(self.run.pk)
        grace = preemptor.timing(self.run.target.pk).grace_seconds
        kept_dir = self.checkpoint_dir or self.backend_checkpoint_dir()
        checkpoint = preempted.keep(self.run, self.workdir / "outputs", kept_dir)
        self.writer.system(f"Preempted ({mark.why}): requeued to resume from its checkpoint dir.")
        self.teardown()  # its last lines stored before the attempt closes
        try:
            preempted.requeue(self.run, checkpoint, mark, grace, self.killed)
        except IllegalTransition:
            # Canceled (or ended) meanwhile: that ending wins, as a cancel would.
            self.preempt_hit = False
            self.end_stopped()

    def backend_checkpoint_dir(self) -> Path:
        backend = self.backend or get_backend(self.run.target.kind)
        return backend.checkpoint_dir(self.run.pk, Target.of(self.run.target).config)


def target_job_ids(target_id: int) -> list[int]:
    """The job ids (``backend_state.job_id``) of the target's runs that may still hold a job."""
    ids = Run.objects.filter(
        compute_target_id=target_id, status__in=[*ACTIVE, Status.QUEUED, Status.NOT_RESPONDING]
    ).values_list("backend_state__job_id", flat=True)
    return [int(i) for i in ids if i]


def execute(run_id: int, worker: str) -> str:
    outcome, claimed = claim_run(run_id, worker)
    if claimed is not None:
        Execution(run_id, claimed).execute()
    return outcome
