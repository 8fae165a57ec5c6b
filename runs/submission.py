"""Submitting a run: validate everything, store the snapshot, queue after commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Subquery

from accounts.models import Team
from audit.services import event, record_all
from common.errors import InvalidInput
from compute import capabilities
from compute.models import ComputeTarget
from environments.models import Environment, EnvironmentVersion
from runs import distributed as dist
from runs import inputs, policy, snapshots
from runs.dispatch import enqueue_after_commit as enqueue
from runs.lifecycle import created_queued, queued_at_creation
from runs.models import Experiment, Run, RunToken
from scheduling.priority import Priority, label
from scheduling.quotas import check_priority

if TYPE_CHECKING:
    from scheduling.explain import QueueInfo


@dataclass
class Submission:
    team: Team
    user: Any
    experiment: str
    script: str = ""
    command: list[str] = field(default_factory=list)
    arguments: list[Any] = field(default_factory=list)
    environment: str = ""
    environment_version: int | None = None
    compute_target: str = "local"
    distributed: Any = None
    tags: dict[str, str] = field(default_factory=dict)
    max_run_duration_seconds: int | None = None
    display_name: str = ""
    snapshot: IO[bytes] | None = None
    resubmit_of: Run | None = None
    inputs: list[Any] = field(default_factory=list)
    idempotency_key: str = ""
    priority: int | None = None  # None: normal (a resubmit keeps its run's)
    preemptible: bool | None = None  # None: a sweep child's or resubmit's source's, else False
    failure_policy: Any = None  # runs.policy: the run's own keys
    # A sweep's child: the run it belongs to, its properties (the parameters), and the run
    # whose stored snapshot it runs as is (checked when that run was created).
    parent: Run | None = None
    properties: dict[str, str] = field(default_factory=dict)
    snapshot_of: Run | None = None


@dataclass(frozen=True)
class Checked:
    """What ``check`` found a submission to need: everything ``create`` stores."""

    shape: dict[str, Any] | None
    env_version: EnvironmentVersion
    target: ComputeTarget
    sha256: str
    size: int
    files: int
    inputs: list[Any]
    failure_policy: dict[str, Any]  # runs.policy: the effective one


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(request: Any) -> str:
    """The request's Idempotency-Key header ("" when absent), checked."""
    key = str(request.headers.get(IDEMPOTENCY_HEADER, "")).strip()
    if len(key) > 200 or not key.isprintable():
        raise InvalidInput({IDEMPOTENCY_HEADER: ["Use at most 200 printable characters."]})
    return key


def earlier_submit(user: Any, key: str) -> Run | None:
    """The run an earlier POST with this Idempotency-Key created, if any."""
    if not key or not getattr(user, "is_authenticated", False):
        return None
    return Run.objects.filter(submitted_by=user, idempotency_key=key).first()


def _environment(sub: Submission) -> EnvironmentVersion:
    name: str = sub.environment or settings.RUNYARD["DEFAULT_ENVIRONMENT"]
    if ":" in name and sub.environment_version is None:
        name, _, raw_version = name.rpartition(":")
        if not raw_version.isdigit():
            raise InvalidInput({"environment": ["Use NAME or NAME:VERSION."]})
        sub.environment_version = int(raw_version)
    named = Environment.objects.filter(Q(curated=True) | Q(team=sub.team), name=name)
    # The environment (the first by name order, as .first() picks) and its version in one
    # statement; which of the two is missing is asked only when one is.
    env_id = named.order_by("name", "pk").values("pk")[:1]  # Environment's ordering, then pk
    versions = EnvironmentVersion.objects.select_related("environment").filter(environment=Subquery(env_id))
    versions = versions.order_by("-version")
    version = versions.filter(version=sub.environment_version).first() if sub.environment_version else versions.first()
    if version is None:
        if not named.exists():
            raise InvalidInput({"environment": [f"No environment named '{name}' in your team or curated."]})
        raise InvalidInput({"environment_version": [f"Environment '{name}' has no version {sub.environment_version}."]})
    return version


def _target(sub: Submission, shape: dict[str, Any] | None) -> ComputeTarget:
    target = ComputeTarget.objects.filter(name=sub.compute_target).first()
    if target is None:
        raise InvalidInput({"compute_target": [f"No compute target named '{sub.compute_target}'."]})
    if not target.enabled:
        raise InvalidInput({"compute_target": [f"Compute target '{target.name}' is disabled."]})
    problems = capabilities.check(target, shape)
    if problems:
        raise InvalidInput({"distributed": problems})
    return target


def _snapshot(sub: Submission) -> tuple[str, int, list[str] | None]:
    """(sha256, size, member files); files None when they were checked before (snapshot_of)."""
    if sub.snapshot_of is not None:
        return sub.snapshot_of.snapshot_sha256, sub.snapshot_of.snapshot_size, None
    if sub.snapshot is not None:
        try:
            stored = snapshots.store(sub.snapshot)
        except snapshots.UnsafeArchive as exc:
            raise InvalidInput({"snapshot": [str(exc)]}) from None
        return stored.sha256, stored.size, stored.files
    if sub.resubmit_of is not None:
        previous = sub.resubmit_of
        if not snapshots.path_of(previous.snapshot_sha256).exists():
            raise InvalidInput({"resubmit_of": ["That run's snapshot is no longer stored."]})
        try:  # stored under older limits, it must still pass today's
            members = snapshots.inspect(snapshots.path_of(previous.snapshot_sha256))
        except snapshots.UnsafeArchive as exc:
            raise InvalidInput({"resubmit_of": [str(exc)]}) from None
        return previous.snapshot_sha256, previous.snapshot_size, [m.path for m in members if not m.is_dir]
    raise InvalidInput({"snapshot": ["Upload a zip or tar of the source directory, or give resubmit_of."]})


def check(sub: Submission) -> Checked:
    """Validate a submission (storing its snapshot); InvalidInput names what is wrong."""
    if not sub.script and not sub.command:
        raise InvalidInput({"script": ["Give a script (or a command)."]})
    shape = dist.validate(sub.distributed)
    env_version = _environment(sub)
    target = _target(sub, shape)
    priority = sub.priority
    if priority is None:
        source = sub.parent or sub.resubmit_of  # a sweep's children take the sweep's
        priority = sub.priority = source.priority if source else int(Priority.NORMAL)
    check_priority(sub.team, target, priority, sub.user)
    if sub.preemptible is None:
        source = sub.parent or sub.resubmit_of  # a sweep's children are preemptible if it is
        sub.preemptible = bool(source.preemptible) if source else False
    sha, size, files = _snapshot(sub)
    if files is not None and sub.script and sub.script not in files:
        listed = ", ".join(f for f in files if f.endswith(".py"))[:300] or "none"
        raise InvalidInput({"script": [f"'{sub.script}' is not in the snapshot. Python files in it: {listed}."]})
    resolved_inputs = inputs.resolve(sub.team, sub.arguments, actor=sub.user)
    extra = inputs.resolve(sub.team, sub.inputs, where="inputs", actor=sub.user)
    clash = {i.name for i in resolved_inputs} & {i.name for i in extra}
    if clash:
        raise InvalidInput({"inputs": [f"Input name(s) also used in arguments: {', '.join(sorted(clash))}."]})
    resolved_inputs += extra
    count = len(files) if files is not None else (sub.snapshot_of.snapshot_files if sub.snapshot_of else 0)
    failure_policy = policy.effective(
        sub.failure_policy, env_version.environment.failure_policy, target.failure_policy
    ).as_json()
    return Checked(shape, env_version, target, sha, size, count, resolved_inputs, failure_policy)


def submit(sub: Submission) -> Run:
    """Create a run and queue it on its compute target once the transaction commits."""
    checked = check(sub)
    try:
        return _create(sub, checked)
    except IntegrityError:
        # Two POSTs with one Idempotency-Key raced: the other one created the run.
        earlier = earlier_submit(sub.user, sub.idempotency_key)
        if earlier is None:
            raise
        return earlier


def submitted_fields(sub: Submission, checked: Checked) -> dict[str, Any]:
    """The Run columns every submission sets the same way: a run's and a sweep's parent's
    (sweeps.services); call inside the transaction that creates the run."""
    experiment, _ = Experiment.objects.get_or_create(
        team=sub.team, name=sub.experiment, defaults={"created_by": sub.user}
    )
    return {
        "team": sub.team,
        "experiment": experiment,
        "submitted_by": sub.user,
        "display_name": sub.display_name,
        "script": sub.script,
        "command": sub.command,
        "arguments": sub.arguments,
        "distributed": checked.shape,
        "tags": sub.tags,
        "snapshot_sha256": checked.sha256,
        "snapshot_size": checked.size,
        "snapshot_files": checked.files,
        "idempotency_key": sub.idempotency_key,
        "preemptible": bool(sub.preemptible),
        # ``check`` settled it (given, the parent's or the resubmitted run's, else normal);
        # a sweep's parent keeps it for the children it launches.
        "priority": int(Priority.NORMAL) if sub.priority is None else sub.priority,
    }


def _create(sub: Submission, checked: Checked) -> Run:
    with transaction.atomic():
        run = Run.objects.create(
            **submitted_fields(sub, checked),
            environment_version=checked.env_version,
            compute_target=checked.target,
            max_run_duration_seconds=sub.max_run_duration_seconds,
            resubmitted_from=sub.resubmit_of,
            failure_policy=checked.failure_policy,
            parent=sub.parent,
            properties=sub.properties,
            # Inserted Queued: the move from NotStarted is recorded below without an UPDATE.
            **queued_at_creation("submitted"),
        )
        inputs.attach(run, checked.inputs)
        created = event(
            "runs.run.created",
            actor=sub.user,
            obj=run,
            changes={
                "experiment": run.experiment.name,
                "script": run.entrypoint,
                "arguments": run.arguments,
                "environment": str(checked.env_version),
                "compute_target": checked.target.name,
                "distributed": checked.shape,
                "tags": sub.tags,
                "priority": label(run.priority),
                "preemptible": run.preemptible,
            },
        )
        created_queued(run, actor=sub.user)
        launched = event("runs.run.launched", actor=sub.user, obj=run, changes={"queue": checked.target.queue})
        record_all([created, launched])  # one INSERT for both
        transaction.on_commit(lambda: enqueue(run))
    return run


def queue_position(run: Run) -> int | None:
    """1 for the next run to start on its target; None when not waiting for a worker's claim
    (the scheduler's order: ``scheduling.policy``)."""
    return queue_positions([_queue_row(run)]).get(run.pk)


def queue_info(run: Run) -> QueueInfo | None:
    """Position and waiting reason of a Queued run in one scheduling pass (None otherwise)."""
    from scheduling.explain import explain

    return explain([_queue_row(run)]).get(run.pk)


def queue_positions(runs: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """``queue_position`` of many runs (mappings with id, status, status_reason, worker and
    compute_target_id): one scheduling pass per target of the page's waiting runs."""
    from scheduling.explain import explain

    return {pk: info.position for pk, info in explain(runs).items() if info.position is not None}


def waiting_reason(run: Run) -> str:
    """Why a Queued run waits ("" when it is not Queued)."""
    info = queue_info(run)
    return info.reason if info else ""


def _queue_row(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "status_reason": run.status_reason,
        "worker": run.worker,
        "compute_target_id": run.compute_target_id,
    }


def issue_run_token(run: Run) -> str:
    return RunToken.issue(run)
