"""Run and experiment serializers (explicit fields)."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, tzinfo
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Func, OuterRef, QuerySet, Subquery
from django.utils import timezone
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from accounts.models import Team
from accounts.permissions import checked_team
from common.archives import UnsafeArchive, clean_path
from compute.models import ComputeTarget
from config.responses import STRING_LIST, STRING_MAP, KeyedSerializer, documented_json
from environments.models import EnvironmentVersion
from runs import summaries
from runs.causes import Cause
from runs.models import Experiment, LogChunk, Metric, Run, RunInput
from runs.status import Status
from runs.submission import queue_info
from scheduling.explain import ENTERING, QueueInfo, explain
from scheduling.priority import NAMES as PRIORITY_NAME_VALUES
from scheduling.priority import label as priority_label

PRIORITY_NAMES = list(PRIORITY_NAME_VALUES)


class JSONValueField(serializers.JSONField):
    """A JSON value given either as JSON (JSON requests) or as a string (multipart forms)."""

    def __init__(self, *args: Any, expect: type | None = None, **kwargs: Any) -> None:
        self.expect = expect
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else None
            except json.JSONDecodeError as exc:
                raise serializers.ValidationError(f"Not valid JSON: {exc.msg}.") from None
        if self.expect is not None and data is not None and not isinstance(data, self.expect):
            raise serializers.ValidationError(f"Must be a JSON {'list' if self.expect is list else 'object'}.")
        return super().to_internal_value(data)


class ExperimentSerializer(serializers.ModelSerializer[Experiment]):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    run_count = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        validators: list[Any] = []  # uniqueness per team is checked in validate()
        fields = ["id", "name", "team", "description", "run_count", "created_at"]

    def get_run_count(self, experiment: Experiment) -> int:
        return experiment.runs.count()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["team"] = checked_team(self.context["request"], self.instance, attrs)
        name = attrs.get("name", self.instance.name if self.instance else "")
        taken = Experiment.objects.filter(team=attrs["team"], name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError({"name": [f"An experiment '{name}' already exists in this team."]})
        return attrs


class SubmitSerializer(serializers.Serializer[Any]):
    snapshot = serializers.FileField(required=False, help_text="zip or tar(.gz) of the source directory")
    resubmit_of = serializers.IntegerField(required=False, help_text="Reuse this run's snapshot and settings")
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    experiment = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", required=False)
    display_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    script = serializers.CharField(required=False, allow_blank=True, max_length=500)
    command = JSONValueField(required=False, expect=list)
    arguments = JSONValueField(required=False, expect=list)
    inputs = JSONValueField(
        required=False, expect=list, help_text="Dataset inputs that are not arguments (paths in RUNYARD_INPUTS)"
    )
    environment = serializers.CharField(required=False, allow_blank=True, help_text="NAME or NAME:VERSION")
    environment_version = serializers.IntegerField(required=False, min_value=1)
    compute_target = serializers.CharField(required=False)
    distributed = JSONValueField(required=False, allow_null=True, expect=dict)
    tags = JSONValueField(required=False, expect=dict)
    max_run_duration_seconds = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    priority = serializers.ChoiceField(
        choices=PRIORITY_NAMES, required=False, help_text="Default normal; capped by the team's max_priority."
    )
    # default None: multipart forms would read a missing boolean as false (DRF's HTML input).
    preemptible = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The scheduler may stop it (SIGTERM, grace, SIGKILL) for a higher-priority or under-share run "
        "and requeue it to resume; a sweep's children take the sweep's. Default false.",
    )
    failure_policy = JSONValueField(
        required=False,
        allow_null=True,
        expect=dict,
        help_text='Retries per cause and the hang watchdog: {"max_retries": {"node_lost": 3}, '
        '"hang_timeout_seconds": 600}; unset keys come from the environment, then the compute target.',
    )

    def validate_command(self, value: Any) -> list[str]:
        if value and not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("Must be a list of strings.")
        return value or []

    def validate_tags(self, value: Any) -> dict[str, str]:
        return {str(k): "" if v is None else str(v) for k, v in (value or {}).items()}

    def validate_script(self, value: str) -> str:
        if not value.strip():
            return ""  # a command instead: submit() says when neither is given
        try:  # cleaned as the snapshot's members were, so "./train.py" finds "train.py"
            return clean_path(value.strip(), "Script", field="script")
        except UnsafeArchive as exc:
            raise serializers.ValidationError(f"Must be a path inside the snapshot: {exc}") from None


class MpiConfigSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["mpi"])
    node_count = serializers.IntegerField()
    process_count_per_node = serializers.IntegerField()


class PyTorchConfigSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["pytorch"])
    node_count = serializers.IntegerField()
    process_count = serializers.IntegerField()
    communication_backend = serializers.ChoiceField(choices=["gloo", "nccl", "mpi"])


class TensorflowConfigSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=["tensorflow"])
    worker_count = serializers.IntegerField()
    parameter_server_count = serializers.IntegerField()


# A run's stored ``distributed`` (as runs.distributed.validate normalizes it: every key set).
# No discriminator: openapi-typescript would then drop ``type`` from a nullable reference,
# and each member's one-value ``type`` enum already tells them apart.
DISTRIBUTED_CONFIG = PolymorphicProxySerializer(
    component_name="DistributedConfig",
    serializers=[MpiConfigSerializer, PyTorchConfigSerializer, TensorflowConfigSerializer],
    resource_type_field_name=None,
)

# An input argument's mode; RunInput.mode (InputModeEnum) also has "upload", an output's.
_INPUT_MODE = {"type": "string", "enum": ["mount", "download"]}
# A run argument as submitted: plain values, or a dataset / datastore placeholder (runs.inputs).
RUN_ARGUMENT: dict[str, Any] = {
    "oneOf": [
        {"type": "string"},
        {"type": "number"},
        {
            "type": "object",
            "title": "DatasetArgument",
            "properties": {
                "dataset": {"type": "string"},
                "version": {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["latest"]}]},
                "mode": _INPUT_MODE,
                "name": {"type": "string"},
                "files": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "A subset of the version's file paths (FileDataset.take / random_split).",
                },
            },
            "required": ["dataset"],
        },
        {
            "type": "object",
            "title": "WebFilesArgument",
            "properties": {
                "urls": {"type": "array", "items": {"type": "string"}, "description": "http(s) URLs of files."},
                "mode": _INPUT_MODE,
                "name": {"type": "string"},
            },
            "required": ["urls"],
        },
        {
            "type": "object",
            "title": "DatastoreArgument",
            "properties": {
                "datastore": {"type": "string"},
                "path": {"type": "string"},
                "mode": _INPUT_MODE,
                "name": {"type": "string"},
            },
            "required": ["datastore"],
        },
        {
            "type": "object",
            "title": "ModelArgument",
            "properties": {
                "model": {"type": "string"},
                "version": {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["latest"]}]},
                "mode": _INPUT_MODE,
                "name": {"type": "string"},
            },
            "required": ["model"],
        },
        {
            "type": "object",
            "title": "OutputArgument",
            "properties": {
                "output": {"type": "string"},
                "datastore": {"type": "string"},
                "path": {"type": "string", "description": "{run-id} is replaced by the run's id."},
                "mode": {"type": "string", "enum": ["upload"]},
                "register": {"type": "string", "description": "Register the uploaded folder as this dataset."},
            },
            "required": ["output"],
        },
    ]
}


CAUSE_EVIDENCE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "exit_code": {"type": "integer"},
        "signal": {"type": "string"},
        "rank": {"type": "integer"},
        "exception": {"type": "string"},
        "frames": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": "integer"},
                    "function": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["file", "line", "function", "code"],
            },
        },
        "oom_source": {"type": "string"},
        "oom_kills": {"type": "integer"},
        "memory_limit": {"type": "integer"},
        "containers": {"type": "array", "items": {"type": "string"}},
        "slurm_state": {"type": "string"},
        "idle_seconds": {"type": "number"},
        "limit_seconds": {"type": "integer"},
        "worker": {"type": "string"},
        "log_tail": {"type": "string"},
        "beneficiary": {"type": "integer"},
        "grace_seconds": {"type": "number"},
    },
}
FAILURE_POLICY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "max_retries": {"type": "object", "additionalProperties": {"type": "integer"}},
        "hang_timeout_seconds": {"type": "integer"},
    },
}


# runs.attempts.retry(resume=True): execution.preempted.keep/requeue write it.
ATTEMPT_CHECKPOINT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "dir": {"type": "string", "description": "RUNYARD_CHECKPOINT_DIR"},
        "files": {"type": "integer"},
        "bytes": {"type": "integer"},
        "outputs": {"type": "integer", "description": "outputs/ files kept for the next attempt"},
        "preempted_for": {"type": "integer", "nullable": True, "description": "the run it made room for"},
    },
}


class AttemptSerializer(serializers.Serializer[Any]):
    number = serializers.IntegerField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField()
    cause = serializers.CharField()
    cause_evidence = documented_json(CAUSE_EVIDENCE)
    exit_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    first_seq = serializers.IntegerField()
    last_seq = serializers.IntegerField(allow_null=True)
    log_lines = serializers.IntegerField()
    worker = serializers.CharField()
    resumed = serializers.BooleanField(help_text="Started from the previous attempt's checkpoint (after a preemption).")
    checkpoint = documented_json(
        ATTEMPT_CHECKPOINT,
        help_text="A preempted attempt: what it left to resume from; a resumed one: what it started from.",
    )


class MetricSummarySerializer(serializers.Serializer[Any]):
    last = serializers.FloatField(help_text="The latest value logged.")
    step = serializers.IntegerField(allow_null=True, help_text="The latest value's step.")
    min = serializers.FloatField()
    max = serializers.FloatField()
    count = serializers.IntegerField(help_text="Points logged.")


class MetricSummaryMapSerializer(KeyedSerializer):
    """Each scalar metric's summary, by metric name."""

    values = MetricSummarySerializer


class RunListSerializer(serializers.ModelSerializer[Run]):
    experiment = serializers.CharField(source="experiment.name")
    compute_target = serializers.SerializerMethodField(help_text="Empty for an interactive run.")
    environment = serializers.SerializerMethodField(help_text="name:version; empty for an interactive run.")
    submitted_by = serializers.CharField(source="submitted_by.username")
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    command = documented_json(STRING_LIST, read_only=True, help_text="Used instead of script when given.")
    distributed = documented_json(DISTRIBUTED_CONFIG, read_only=True, allow_null=True)
    tags = documented_json(STRING_MAP, read_only=True)
    queue_position = serializers.SerializerMethodField()
    priority = serializers.SerializerMethodField()
    waiting_reason = serializers.SerializerMethodField(help_text="Why a Queued run waits; empty otherwise.")
    cause = serializers.ChoiceField(
        choices=Cause.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why it ended; empty unless Failed/Canceled.",
    )
    properties = documented_json(STRING_MAP, read_only=True, help_text="Azure's run properties: add-only.")
    metrics = serializers.SerializerMethodField(help_text="Each scalar metric's latest, min and max, by name.")
    params = serializers.SerializerMethodField(help_text="Parameters read from the arguments (--name value).")

    class Meta:
        model = Run
        fields = [
            "id",
            "display_name",
            "status",
            "status_reason",
            "experiment",
            "script",
            "command",
            "compute_target",
            "environment",
            "distributed",
            "tags",
            "submitted_by",
            "created_at",
            "queued_at",
            "running_at",
            "ended_at",
            "duration_seconds",
            "exit_code",
            "cause",
            "attempt",
            "queue_position",
            "priority",
            "preemptible",
            "waiting_reason",
            "interactive",
            "parent",
            "properties",
            "metrics",
            "params",
            "archived_at",
        ]
        read_only_fields = fields

    @extend_schema_field(MetricSummaryMapSerializer)
    def get_metrics(self, run: Run) -> dict[str, dict[str, Any]]:
        if self.context.get("just_queued") == run.pk and run.preparing_at is None:
            # The submit's own answer (or, after an idempotency race, the other POST's run of a
            # moment ago): never claimed, so no run token was minted to log a metric with.
            return {}
        return summaries.summaries_of([run.pk]).get(run.pk, {})

    @extend_schema_field(STRING_MAP)
    def get_params(self, run: Run) -> dict[str, str]:
        return summaries.params_of(run.arguments or [])

    def get_compute_target(self, run: Run) -> str:
        return run.compute_target.name if run.compute_target else ""

    def get_environment(self, run: Run) -> str:
        return str(run.environment_version) if run.environment_version else ""

    def _queue(self, run: Run) -> QueueInfo | None:
        """The scheduler's verdict on ``run`` (None when not waiting), asked once for both
        fields that show it: a pass costs a plan look-up and a Redis scan."""
        known: dict[int, QueueInfo | None] = self.__dict__.setdefault("_queue_infos", {})
        if run.pk not in known:
            if self.context.get("just_queued") == run.pk and run.status == Status.QUEUED:
                # The submit's own answer: no plan (a dozen reads on the web process while
                # the claim runs); GET says where the scheduler placed it.
                known[run.pk] = QueueInfo(None, ENTERING)
            else:
                known[run.pk] = queue_info(run)
        return known[run.pk]

    def get_queue_position(self, run: Run) -> int | None:
        info = self._queue(run)
        return info.position if info else None

    @extend_schema_field(serializers.ChoiceField(choices=PRIORITY_NAMES))
    def get_priority(self, run: Run) -> str:
        return priority_label(run.priority)

    def get_waiting_reason(self, run: Run) -> str:
        info = self._queue(run)
        return info.reason if info else ""


# What run_list_data reads: RunListSerializer's fields as columns, the related names (as
# list_names gives them), and what duration_seconds and queue positions need; timestamps
# other than created_at (the cursor's position, a datetime) as UTC text (``list_times``).
RUN_LIST_COLUMNS = (
    "id",
    "display_name",
    "status",
    "status_reason",
    "experiment_name",
    "script",
    "command",
    "compute_target_id",
    "compute_target_name",
    "environment_label",
    "distributed",
    "tags",
    "submitted_by_username",
    "created_at",
    "queued_at_text",
    "starting_at_text",
    "running_at_text",
    "ended_at_text",
    "exit_code",
    "cause",
    "attempt",
    "worker",
    "priority",
    "preemptible",
    "interactive",
    "parent_id",
    "properties",
    "archived_at_text",
)

_timestamp = serializers.DateTimeField()


def _name_of(source: type[models.Model] | QuerySet[Any], field: str, column: str) -> Subquery:
    rows = source if isinstance(source, QuerySet) else source._default_manager.all()
    return Subquery(rows.filter(pk=OuterRef(column)).order_by().values(field)[:1])


class _VersionLabel(Func):
    """``str(EnvironmentVersion)``, "name:version", in SQL: one subquery for the page's
    environment column instead of one for the name and one for the version. Both databases
    concatenate text and an integer with ``||`` (neither column is null); Concat + Cast
    spelled the same with twice the expressions to build on every page."""

    arg_joiner = " || ':' || "
    template = "%(expressions)s"
    output_field = models.CharField()


class _UtcText(Func):
    """A timestamp column as its UTC text, not a datetime: PostgreSQL's ``to_char`` (always
    six fraction digits), SQLite's stored text (Django stores UTC as
    ``YYYY-MM-DD HH:MM:SS[.ffffff]``); ``_iso_text`` makes DRF's text of either. Loading
    a page's 250 timestamps as datetimes (Django's time-zone loader subclasses psycopg's
    pure-Python one) and formatting them back cost ~0.9 ms of a page's CPU; the text ~0.06."""

    template = "%(expressions)s"
    output_field = models.CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # An expression, not the bare column: sqlite3 would parse a column declared
        # datetime (Django registers the converter).
        return self.as_sql(compiler, connection, template="(%(expressions)s || '')", **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return self.as_sql(compiler, connection, template=template, **extra)


TEXT_TIMESTAMPS = ("queued_at", "starting_at", "running_at", "ended_at", "archived_at")


def list_times(runs: QuerySet[Run]) -> QuerySet[Run]:
    """``runs`` with ``NAME_text`` for each of ``TEXT_TIMESTAMPS`` (``_UtcText``)."""
    return runs.annotate(**{f"{name}_text": _UtcText(name) for name in TEXT_TIMESTAMPS})


def list_names(runs: QuerySet[Run]) -> QuerySet[Run]:
    """``runs`` with the related names a run-list row shows (``RUN_LIST_COLUMNS``) as one
    subquery each instead of joins: PostgreSQL spent ~1.8 ms planning the page's 6-table
    join (23 indexes on runs_run) for 0.15 ms of execution; with subqueries in the select
    list it plans in 0.15 ms and runs in 0.3 (bench/RESULTS.md, run list)."""
    return runs.annotate(
        experiment_name=_name_of(Experiment, "name", "experiment_id"),
        compute_target_name=_name_of(ComputeTarget, "name", "compute_target_id"),
        environment_label=_name_of(
            EnvironmentVersion.objects.annotate(label=_VersionLabel("environment__name", "version")),
            "label",
            "environment_version_id",
        ),
        submitted_by_username=_name_of(get_user_model(), "username", "submitted_by_id"),
    )


@functools.cache
def _list_base() -> QuerySet[Run]:
    return list_times(list_names(Run.objects.all()))


def list_rows() -> QuerySet[Run]:
    """``list_times(list_names(Run.objects.all()))``, built once per process and cloned per request (as
    DRF clones a view's ``queryset``): resolving the four subqueries cost more than
    cloning the query that holds them."""
    return _list_base().all()


def _iso(value: Any, tz: tzinfo | None = None) -> str | None:
    """``serializers.DateTimeField().to_representation(value)``: ISO 8601 in the current
    time zone, UTC as ``Z``. An aware value (all the database gives with USE_TZ) takes the
    short way: the field looks its settings and the time zone up on every call, ~4 µs
    each, and a page of the run list has 200 of them."""
    if value is None:
        return None
    if tz is None or value.tzinfo is None:
        return _timestamp.to_representation(value)
    text = value.astimezone(tz).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _utc(tz: tzinfo | None) -> bool:
    return tz is UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC")


def _moment(value: Any) -> datetime | None:
    """A ``_UtcText`` value (or a datetime, where a database gave one) as a naive UTC datetime."""
    if value is None or (isinstance(value, str) and not value):
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value[:26])
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value  # type: ignore[no-any-return]


def _iso_text(value: Any, tz: tzinfo | None, utc: bool) -> str | None:
    """DRF's text (``_iso``) of a ``_UtcText`` value: in UTC, ``YYYY-MM-DDTHH:MM:SS`` with
    ``.ffffff`` unless the microseconds are 0 (as ``isoformat``), then ``Z``."""
    if value is None:
        return None
    if utc and isinstance(value, str) and len(value) in (19, 26) and value[10] in " T":
        fraction = value[20:26]
        return f"{value[:10]}T{value[11:19]}{'.' + fraction if fraction and fraction != '000000' else ''}Z"
    moment = _moment(value)
    return None if moment is None else _iso(moment.replace(tzinfo=UTC), tz)


def run_list_data(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RunListSerializer's output (same keys, order and values) for rows of
    ``RUN_LIST_COLUMNS``, with the page's queue positions in one query.

    The run list uses this instead of the serializer: building model instances (with their
    related rows) and serializing them field by field was most of a page's time.
    """
    queue = explain(rows)
    ids = [row["id"] for row in rows]
    metrics, params = summaries.page_summaries(ids)
    now = timezone.now().astimezone(UTC).replace(tzinfo=None)
    tz = timezone.get_current_timezone()
    utc = _utc(tz)
    data = []
    for row in rows:
        started = _moment(row["running_at_text"] or row["starting_at_text"])
        ended = _moment(row["ended_at_text"])
        data.append(
            {
                "id": row["id"],
                "display_name": row["display_name"],
                "status": row["status"],
                "status_reason": row["status_reason"],
                "experiment": row["experiment_name"],
                "script": row["script"],
                "command": row["command"],
                "compute_target": row["compute_target_name"] or "",
                "environment": row["environment_label"] or "",
                "distributed": row["distributed"],
                "tags": row["tags"],
                "submitted_by": row["submitted_by_username"],
                "created_at": _iso(row["created_at"], tz),
                "queued_at": _iso_text(row["queued_at_text"], tz, utc),
                "running_at": _iso_text(row["running_at_text"], tz, utc),
                "ended_at": _iso_text(row["ended_at_text"], tz, utc),
                # as Run.duration_seconds, with one "now" for the page
                "duration_seconds": None if started is None else ((ended or now) - started).total_seconds(),
                "exit_code": row["exit_code"],
                "cause": row["cause"],
                "attempt": row["attempt"],
                "queue_position": queue[row["id"]].position if row["id"] in queue else None,
                "priority": priority_label(row["priority"]),
                "preemptible": row["preemptible"],
                "waiting_reason": queue[row["id"]].reason if row["id"] in queue else "",
                "interactive": row["interactive"],
                "parent": row["parent_id"],
                "properties": row["properties"],
                "metrics": metrics.get(row["id"], {}),
                "params": params.get(row["id"], {}),
                "archived_at": _iso_text(row["archived_at_text"], tz, utc),
            }
        )
    return data


class RunEnvironmentVersionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    environment = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    curated = serializers.BooleanField()


class RunDetailSerializer(RunListSerializer):
    environment_version = serializers.SerializerMethodField()
    portal_url = serializers.SerializerMethodField()
    arguments = documented_json({"type": "array", "items": RUN_ARGUMENT}, read_only=True)
    cause_evidence = documented_json(
        CAUSE_EVIDENCE, read_only=True, help_text="What shows the cause (runs.causes.Evidence)."
    )
    failure_policy = documented_json(FAILURE_POLICY, read_only=True, help_text="The effective policy.")

    class Meta(RunListSerializer.Meta):
        fields = [
            *RunListSerializer.Meta.fields,
            "arguments",
            "environment_version",
            "max_run_duration_seconds",
            "preparing_at",
            "starting_at",
            "finalizing_at",
            "error",
            "cause_evidence",
            "failure_policy",
            "preempt_requested_at",
            "preempt_for",
            "preempt_reason",
            "heartbeat_at",
            "worker",
            "snapshot_sha256",
            "snapshot_size",
            "snapshot_files",
            "resubmitted_from",
            "build",
            "log_seq",
            "portal_url",
            "description",
        ]
        read_only_fields = fields

    @extend_schema_field(RunEnvironmentVersionSerializer(allow_null=True))
    def get_environment_version(self, run: Run) -> dict[str, Any] | None:
        version = run.environment_version
        if version is None:
            return None
        return {
            "id": version.pk,
            "environment": version.environment_id,
            "name": version.environment.name,
            "version": version.version,
            "content_hash": version.content_hash,
            "curated": version.environment.curated,
        }

    def get_portal_url(self, run: Run) -> str:
        from django.conf import settings

        return f"{settings.PUBLIC_URL}/runs/{run.pk}"


class MetricPointSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=255)
    value = serializers.FloatField(required=False, allow_null=True)
    payload = serializers.JSONField(required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=Metric.Kind.choices, default=Metric.Kind.SCALAR)
    step = serializers.IntegerField(required=False, allow_null=True)
    time = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == "scalar" and attrs.get("value") is None:
            raise serializers.ValidationError({"value": ["A scalar metric needs a value."]})
        if attrs["kind"] == "text" and not isinstance(attrs.get("payload"), str):
            raise serializers.ValidationError({"payload": ["A text metric needs a string payload."]})
        return attrs


# ---- response bodies of the run actions (schema; the views build them) ----------------
class StatusChangeSerializer(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    to = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField()
    actor = serializers.CharField(allow_null=True, help_text="Username; null for the system.")

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "from" is a Python keyword, so it cannot be a class attribute.
        fields = super().get_fields()
        return {"at": fields.pop("at"), "from": serializers.ChoiceField(choices=Status.choices), **fields}


class RunProcessSerializer(serializers.Serializer[Any]):
    rank = serializers.IntegerField()
    node_rank = serializers.IntegerField()
    local_rank = serializers.IntegerField()
    role = serializers.CharField()
    host = serializers.CharField()
    pid = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    exit_code = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class RunInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    mode = serializers.ChoiceField(choices=RunInput.Mode.choices)
    local_path = serializers.CharField()
    dataset = serializers.CharField(allow_null=True)
    version = serializers.IntegerField(allow_null=True, help_text="The dataset's or the model's version.")
    datastore = serializers.CharField(allow_null=True)
    datastore_path = serializers.CharField()
    files = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="A subset of the version's files; null: all."
    )
    urls = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Web files given inline (no dataset)."
    )
    model = serializers.CharField(allow_null=True, required=False, help_text="A registered model's name.")


class LogLineSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField()
    rank = serializers.IntegerField(help_text="-1 for lines from Runyard itself.")
    stream = serializers.ChoiceField(choices=LogChunk.Stream.choices)
    text = serializers.CharField()
    at = serializers.DateTimeField()


class LogPageSerializer(serializers.Serializer[Any]):
    run = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Status.choices)
    last_seq = serializers.IntegerField(help_text="The run's last stored line.")
    lines = LogLineSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as ``after`` for the next page.")


class ArtifactStoredSerializer(serializers.Serializer[Any]):
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class ArtifactSerializer(ArtifactStoredSerializer):
    created_at = serializers.DateTimeField()


class ArtifactUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField()
    name = serializers.CharField(required=False, help_text="Path in the run's outputs; default: the file's name")


class MetricValueSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=Metric.Kind.choices)
    value = serializers.FloatField(allow_null=True)
    payload = serializers.JSONField(allow_null=True)
    step = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField()


class MetricSeriesSerializer(KeyedSerializer):
    """Each metric's points, oldest first, by metric name."""

    values = MetricValueSerializer
    as_list = True


class MetricsStoredSerializer(serializers.Serializer[Any]):
    stored = serializers.IntegerField()


class CancelSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True)


class SnapshotUploadSerializer(serializers.Serializer[Any]):
    snapshot = serializers.FileField(help_text="zip or tar(.gz) of the files (run.take_snapshot)")


class RunTagsSerializer(serializers.Serializer[Any]):
    tags = documented_json(STRING_MAP)


class RunTagsUpdateSerializer(serializers.Serializer[Any]):
    """Tags to set (merged into the run's) and tag names to remove; at least one of them."""

    tags = documented_json(STRING_MAP, required=False)
    remove = serializers.ListField(
        child=serializers.CharField(max_length=255), required=False, help_text="Tag names to delete."
    )

    def validate_tags(self, value: Any) -> dict[str, str]:
        return _string_map(value, "tags")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "tags" not in attrs and "remove" not in attrs:
            raise serializers.ValidationError({"tags": ["Give tags to set or names to remove."]})
        return attrs


class StartLoggingSerializer(serializers.Serializer[Any]):
    """An interactive run (``experiment.start_logging()``) or a child run (``run.child_run()``)."""

    experiment = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", required=False)
    display_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    tags = documented_json(STRING_MAP, required=False)
    properties = documented_json(STRING_MAP, required=False)
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # "parent" is a Serializer attribute, so the field cannot be a class attribute.
        parent = serializers.IntegerField(required=False, allow_null=True, help_text="The parent run (a child run).")
        return {**super().get_fields(), "parent": parent}

    def validate_tags(self, value: Any) -> dict[str, str]:
        return _string_map(value, "tags")

    def validate_properties(self, value: Any) -> dict[str, str]:
        return _string_map(value, "properties")


def _string_map(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise serializers.ValidationError(f"{field} must be an object of name: value.")
    return {k: "" if v is None else str(v) for k, v in value.items()}


class CompleteSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=[(Status.COMPLETED, "Completed"), (Status.FAILED, "Failed")])
    error = serializers.CharField(required=False, allow_blank=True, max_length=10000)


class RunPropertiesSerializer(serializers.Serializer[Any]):
    properties = documented_json(STRING_MAP)


class RunEnvironmentSerializer(serializers.Serializer[Any]):
    """A run's environment and the version it used (``GET /api/runs/{id}/environment/``)."""

    environment = serializers.DictField(help_text="As GET /api/environments/{id}/ answers.")
    version = serializers.DictField(help_text="As GET /api/environment-versions/{id}/ answers.")


class PrioritySerializer(serializers.Serializer[Any]):
    priority = serializers.ChoiceField(choices=PRIORITY_NAMES)
