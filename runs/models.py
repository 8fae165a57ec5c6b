"""Experiments, runs, their processes, logs, metrics and artifacts."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

from common.jsontext import OrderedJSONField
from runs.causes import Cause
from runs.status import TERMINAL, Status
from scheduling.priority import Priority

if TYPE_CHECKING:
    from compute.models import ComputeTarget
    from environments.models import EnvironmentVersion


class Experiment(models.Model):
    """A named group of runs within a team."""

    name = models.CharField(max_length=128)
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="experiment_name_per_team")]

    def __str__(self) -> str:
        return self.name


class Run(models.Model):
    """One execution of a script (ScriptRunConfig): snapshot + script + arguments on a
    compute target, in a pinned environment version, optionally distributed.

    ``status`` changes only through ``runs.lifecycle.transition``.
    """

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    display_name = models.CharField(max_length=200, blank=True)
    # Azure's run.description: free text, editable after submit (PATCH, audited).
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_STARTED)
    status_reason = models.TextField(blank=True)

    script = models.CharField(max_length=500, blank=True)
    command = models.JSONField(default=list, blank=True, help_text="Used instead of script when given.")
    arguments = models.JSONField(default=list, blank=True)
    # Both empty only for an interactive run (no snapshot, no process: see ``interactive``).
    environment_version = models.ForeignKey(
        "environments.EnvironmentVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    compute_target = models.ForeignKey(
        "compute.ComputeTarget", null=True, blank=True, on_delete=models.PROTECT, related_name="runs"
    )
    # Azure's interactive runs (experiment.start_logging(), run.child_run()): created
    # Running by a client that logs to it and completes it; no worker ever touches one.
    interactive = models.BooleanField(default=False)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    # Azure's run properties: like tags, but a key once set keeps its value (add-only).
    properties = models.JSONField(default=dict, blank=True)
    distributed = models.JSONField(null=True, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    max_run_duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    # The queue orders by it first (scheduling.policy); capped per team by TeamQuota.max_priority.
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    resubmitted_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Preemption (scheduling.preemption): the scheduler may stop a preemptible run (SIGTERM,
    # grace, SIGKILL) for a higher-priority or under-share run and requeue it to resume.
    preemptible = models.BooleanField(default=False)
    # Set once, under the target's row lock, when the scheduler picks the run as a victim;
    # the executor that owns the run sees it and stops it. Cleared by the retry.
    preempt_requested_at = models.DateTimeField(null=True, blank=True)
    preempt_for = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    preempt_reason = models.CharField(max_length=300, blank=True)

    snapshot_sha256 = models.CharField(max_length=64, blank=True)
    snapshot_size = models.PositiveBigIntegerField(default=0)
    snapshot_files = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    queued_at = models.DateTimeField(null=True, blank=True)
    preparing_at = models.DateTimeField(null=True, blank=True)
    starting_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True)
    finalizing_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Why it ended (runs.causes): set with the move to Failed or Canceled.
    cause = models.CharField(max_length=24, choices=Cause.choices, blank=True)
    cause_evidence = models.JSONField(default=dict, blank=True)
    # The effective runs.policy.FailurePolicy (retries per cause, hang timeout), fixed at submission.
    failure_policy = models.JSONField(default=dict, blank=True)
    attempt = models.PositiveIntegerField(default=1, help_text="The current attempt's number (1: not retried).")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # The pid of the worker process executing the run, on the worker's host: recovery
    # tells a live owner from a dead one by it (names are reused, processes are not).
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    # A client's Idempotency-Key for the POST that created the run: a retried submit
    # returns this run instead of creating another.
    idempotency_key = models.CharField(max_length=200, blank=True)
    build = models.ForeignKey(
        "environments.EnvironmentBuild", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    log_seq = models.PositiveBigIntegerField(default=0, help_text="Sequence number of the last stored log line.")
    backend_state = models.JSONField(default=dict, blank=True, help_text="Backend handles: pids, job ids, containers.")
    # Archived runs are hidden from the run list unless asked for (?archived=true); restorable.
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The run list: a team's runs newest first, keyset-paginated on (created_at, id).
            models.Index(fields=["team", "-created_at", "-id"], name="run_team_created"),
            # The run list filtered by status (?status=Running).
            models.Index(fields=["team", "status", "-created_at", "-id"], name="run_team_status_created"),
            # The run list for admins (no team filter) and for members of several teams (team IN
            # (...) is read in this order and filtered instead of sorted).
            models.Index(fields=["-created_at", "-id"], name="run_created"),
            # The same filtered by status.
            models.Index(fields=["status", "-created_at", "-id"], name="run_status_created"),
            # The run list filtered by failure cause (?cause=oom).
            models.Index(fields=["team", "cause", "-created_at", "-id"], name="run_team_cause_created"),
            # An experiment's runs.
            models.Index(fields=["experiment", "-created_at", "-id"], name="run_experiment_created"),
            # Queue position and capacity: a target's queued/active runs in order.
            models.Index(fields=["compute_target", "status", "queued_at"], name="run_target_status"),
            # Queue positions of a list page (runs.submission.queue_positions numbers a target's
            # waiting runs, worker="", by queued_at, id): read from this index alone.
            models.Index(fields=["compute_target", "status", "worker", "queued_at", "id"], name="run_queue_order"),
            # The claim path's queue heads (scheduling.state.heads / WAITING_TEAMS): a target's
            # waiting runs (status Queued, worker "") per team, in the team's order, read
            # LIMIT k per team; and the loose index scan for the teams that have any.
            models.Index(
                fields=["compute_target", "status", "worker", "team", "-priority", "queued_at", "id"],
                name="run_waiting_heads",
            ),
            # Decayed usage (scheduling.state.ended): a target's runs ended inside the usage
            # window, counted and summed from the index to check the process's mirror.
            models.Index(fields=["compute_target", "ended_at", "id"], name="run_target_ended"),
            # A run's children (run.get_children()), oldest first.
            models.Index(fields=["parent", "created_at", "id"], name="run_parent_created"),
            # The heartbeat sweep: active runs with an old heartbeat.
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat"),
        ]
        constraints = [
            # One run per (submitter, Idempotency-Key); also the lookup of a retried submit.
            models.UniqueConstraint(
                fields=["submitted_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="run_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or f"run {self.pk}"

    # A run a worker executes always has both; these name it when one is missing.
    @property
    def target(self) -> ComputeTarget:
        if self.compute_target is None:
            raise ValueError(f"Run {self.pk} is interactive: it has no compute target.")
        return self.compute_target

    @property
    def env_version(self) -> EnvironmentVersion:
        if self.environment_version is None:
            raise ValueError(f"Run {self.pk} is interactive: it has no environment.")
        return self.environment_version

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration_seconds(self) -> float | None:
        start = self.running_at or self.starting_at
        if start is None:
            return None
        return ((self.ended_at or timezone.now()) - start).total_seconds()

    @property
    def entrypoint(self) -> str:
        return " ".join(self.command) if self.command else self.script


class Attempt(models.Model):
    """One try at executing a run: a retry starts the next attempt of the same run.

    Log lines are not copied per attempt: an attempt owns the run's lines with
    ``first_seq <= seq <= last_seq`` (seq is gapless per run, so the ranges tile it).
    The seam for resuming after preemption (issue 22): a preempted attempt ends with
    cause ``preempted``; a resuming scheduler opens the next attempt through
    ``runs.attempts.retry`` with ``resume=True`` and reads ``checkpoint`` from the
    previous one, the rest (numbering, logs, queue, no double launch) is the same.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, blank=True, help_text="The status the attempt ended with.")
    cause = models.CharField(max_length=24, choices=Cause.choices, blank=True)
    cause_evidence = models.JSONField(default=dict, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    first_seq = models.PositiveBigIntegerField(default=1)
    last_seq = models.PositiveBigIntegerField(null=True, blank=True, help_text="None while it runs.")
    worker = models.CharField(max_length=200, blank=True)
    resumed = models.BooleanField(default=False, help_text="Started from the previous attempt's checkpoint.")
    checkpoint = models.JSONField(default=dict, blank=True, help_text="What a resumed attempt starts from.")

    class Meta:
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="attempt_number_unique")]


class RunStatusChange(models.Model):
    """One recorded status transition of a run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="status_changes")
    at = models.DateTimeField(default=timezone.now)
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["run", "at", "id"]


class RunProcess(models.Model):
    """One rank of a run (or one TF worker / parameter server): where and how it ran."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="processes")
    rank = models.PositiveIntegerField()
    node_rank = models.PositiveIntegerField(default=0)
    local_rank = models.PositiveIntegerField(default=0)
    role = models.CharField(max_length=20, default="worker")
    host = models.CharField(max_length=200, blank=True)
    pid = models.IntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, default="pending")
    exit_code = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "rank"]
        constraints = [models.UniqueConstraint(fields=["run", "rank"], name="run_process_rank_unique")]


class LogChunk(models.Model):
    """Consecutive lines of a run's log, one row per batch the run's log writer stored.

    The lines hold seqs ``first_seq`` … ``last_seq`` (a chunk has no gap, so line ``i``
    is ``first_seq + i``). One row per batch instead of one per line is what makes
    120k+ lines/s cheap: a line costs a few bytes of JSON instead of a row and three
    index entries (bench/RESULTS.md, "log storage"). ``runs.logstore`` packs and reads
    them; nothing else should.

    ``lines`` is a JSON array of ``[rank, stream, text]``; ``stamps`` a JSON array of
    ``[iso time, count]`` (the lines of one pipe read share their time, in order).
    ``ranks`` lists the ranks present as ``,0,1,-1,`` so one rank's pages skip the
    chunks it has no line in (``ranks LIKE '%,N,%'``).
    """

    class Stream(models.TextChoices):
        STDOUT = "stdout"
        STDERR = "stderr"
        SYSTEM = "system"

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_chunks", db_index=False)
    first_seq = models.PositiveBigIntegerField()
    last_seq = models.PositiveBigIntegerField()
    ranks = models.TextField(help_text="The ranks with a line here, as ,0,1,-1, (-1: Runyard itself).")
    stamps = models.TextField(help_text="JSON [[iso time, line count], ...] in line order.")
    lines = models.TextField(help_text="JSON [[rank, stream, text], ...] in seq order.")

    class Meta:
        ordering = ["run", "first_seq"]
        constraints = [
            # The only index: catch-up (last_seq > after, in order), tails (newest first),
            # and a retried batch's ON CONFLICT DO NOTHING.
            models.UniqueConstraint(fields=["run", "first_seq"], name="log_chunk_first_seq_unique")
        ]


class MetricChunk(models.Model):
    """Consecutive scalar points of one metric of a run: one row per metric name and stored
    batch, so a 5000-point batch of 10 names is 10 rows (runs migration 0018).

    A metric's points are numbered by position, 0, 1, 2 … in logging order (the order its
    batches were stored, then the batch's order); this chunk holds ``first_position`` …
    ``last_position``, without a gap. The points' values, steps and times are packed
    little-endian arrays (the format: ``runs.metricchunks``); the other columns let
    queries skip the unpacking: min / max / sum for the summaries and means, ``last_at``
    for "when did the run last log", ``top_*`` for MLflow's latest value (highest step,
    then latest time). ``runs.metricstore`` writes and reads them; nothing else should.
    """

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_chunks", db_index=False)
    name = models.CharField(max_length=255)
    first_position = models.PositiveBigIntegerField()
    last_position = models.PositiveBigIntegerField()
    count = models.PositiveIntegerField()
    min_value = models.FloatField()
    max_value = models.FloatField()
    value_sum = models.FloatField()
    last_at = models.DateTimeField(help_text="The latest time among its points.")
    top_step = models.BigIntegerField(help_text="The step of its MLflow-latest point (no step: 0).")
    top_at = models.DateTimeField()
    top_value = models.FloatField()
    value_bytes = models.BinaryField(help_text="float64 little-endian, one per point.")
    step_bytes = models.BinaryField(help_text="int64 little-endian per point (+ a flag byte each when some lack one).")
    time_bytes = models.BinaryField(help_text="float64 little-endian unix seconds, one per point.")

    class Meta:
        ordering = ["run", "name", "first_position"]
        constraints = [
            # The only index: a metric's chunks in position order (charts, compare, history
            # pages, a batch's next position), a run's chunks (its prefix).
            models.UniqueConstraint(fields=["run", "name", "first_position"], name="metric_chunk_position_unique")
        ]


class Metric(models.Model):
    """One logged non-scalar metric point: a list, row, image or text in ``payload``.

    Scalars are stored in ``MetricChunk`` since migration 0018, which moved the scalar rows
    there; ``value`` stays for migrating back. ``runs.metricstore`` writes and reads both."""

    class Kind(models.TextChoices):
        SCALAR = "scalar"
        LIST = "list"
        ROW = "row"
        IMAGE = "image"
        TEXT = "text"  # run.log(name, "linear"): the string in ``payload``

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics", db_index=False)
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SCALAR)
    value = models.FloatField(null=True, blank=True)
    # Text, not jsonb: a table's columns keep their logged order (common.jsontext).
    payload = OrderedJSONField(null=True, blank=True)
    step = models.BigIntegerField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "name", "id"]
        indexes = [
            # A run's points for one metric, in logging order (the charts).
            models.Index(fields=["run", "name", "id"], name="metric_run_name"),
        ]


class MetricSummary(models.Model):
    """A run's scalar metric in one row: its latest, lowest and highest value, kept up to date
    as points arrive (``runs.summaries.record_points``), so the run list sorts and filters
    runs by a metric without reading their points."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_summaries", db_index=False)
    name = models.CharField(max_length=255)
    latest = models.FloatField()
    latest_step = models.BigIntegerField(null=True, blank=True)
    min_value = models.FloatField()
    max_value = models.FloatField()
    points = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "name"]
        constraints = [
            # The ingest upsert's conflict target; also a page's summaries (run IN (...)).
            models.UniqueConstraint(fields=["run", "name"], name="metric_summary_run_name"),
        ]
        indexes = [
            # ?ordering=-metrics.acc: runs with the metric in value order, read from the index.
            models.Index(fields=["name", "latest", "run"], name="metric_summary_latest"),
            # ?ordering=metrics_min.loss and ?ordering=-metrics_max.acc.
            models.Index(fields=["name", "min_value", "run"], name="metric_summary_min"),
            models.Index(fields=["name", "max_value", "run"], name="metric_summary_max"),
        ]


class MetricSketch(models.Model):
    """A run's scalar series thinned for charts (``runs.compare.series``): computed from the
    points on first read and kept while the metric's point count is unchanged, so a finished
    run's charts are read once, not from its points on every comparison."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+", db_index=False)
    name = models.CharField(max_length=255)
    max_points = models.PositiveIntegerField()
    points = models.PositiveBigIntegerField(help_text="The points it was computed from (MetricSummary.points).")
    # JSON arrays kept as text: a comparison splices them into its answer as they are (a
    # million-point comparison is 100 of these; decoding and re-encoding them cost ~1 s).
    steps_json = models.TextField()
    values_json = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="metric_sketch_run_name")]


class RunField(models.Model):
    """One parameter (parsed from the arguments), tag or property of a run, as a row:
    what the run list sorts and filters by (``?ordering=params.lr``, ``?param=lr>0.01``).

    Derived from the run's ``arguments``, ``tags`` and ``properties`` whenever they are
    saved (``runs.summaries.sync_fields``); never edited on its own."""

    class Kind(models.TextChoices):
        PARAM = "param"
        TAG = "tag"
        PROPERTY = "property"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="fields", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(max_length=255)
    text = models.TextField(blank=True)
    number = models.FloatField(null=True, blank=True, help_text="The value as a number, when it is one.")
    # Numbers before text, numbers in numeric order (runs.summaries.sort_key): one column to page on.
    sort_key = models.CharField(max_length=300)

    class Meta:
        ordering = ["run", "kind", "key"]
        constraints = [models.UniqueConstraint(fields=["run", "kind", "key"], name="run_field_key")]
        indexes = [
            # ?ordering=params.lr (and tags., properties.): runs with the key in value order.
            models.Index(fields=["kind", "key", "sort_key", "run"], name="run_field_sort"),
            # ?param=lr>0.01: numeric comparisons.
            models.Index(fields=["kind", "key", "number"], name="run_field_number"),
        ]


class RunColumnPreference(models.Model):
    """The columns a user chose for the run list, for all runs or one experiment's."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    columns = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "experiment"], condition=models.Q(experiment__isnull=False), name="column_pref_exp"
            ),
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(experiment__isnull=True), name="column_pref_all_runs"
            ),
        ]


class Artifact(models.Model):
    """A file the run wrote under outputs/ (or uploaded), downloadable afterwards."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=1000)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "path"]
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="artifact_path_unique")]


class RunInput(models.Model):
    """A dataset (version), model (version) or datastore path a run consumes, and where it appeared."""

    class Mode(models.TextChoices):
        MOUNT = "mount"
        DOWNLOAD = "download"
        UPLOAD = "upload"  # an output (OutputFileDatasetConfig): a folder uploaded to the datastore at the end

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="inputs")
    name = models.CharField(max_length=128)
    dataset_version = models.ForeignKey(
        "datasets.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="run_inputs"
    )
    datastore = models.ForeignKey(
        "datasets.Datastore", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A registered model (Azure's Model.get_model_path inside the run); see runs.inputs.
    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="run_inputs"
    )
    datastore_path = models.CharField(max_length=500, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices)
    local_path = models.CharField(max_length=1000, blank=True)
    # An output registered as a new version of this dataset once uploaded (register_on_complete).
    register_as = models.CharField(max_length=128, blank=True)
    # A subset of the version's files (FileDataset.take / random_split): their paths; null: all.
    files = models.JSONField(null=True, blank=True)
    # Web files given inline (an unregistered Dataset.File.from_files(urls)): [[path, url], …].
    urls = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["run", "name"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="run_input_name_unique")]


class RunToken(models.Model):
    """A token scoped to one run, handed to its processes for the in-run SDK."""

    PREFIX = "ryr_"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked = models.BooleanField(default=False)

    def is_valid(self) -> bool:
        # A finished run keeps a short window so a script's last flush at exit lands.
        if self.revoked:
            return False
        ended = self.run.ended_at
        return ended is None or (timezone.now() - ended).total_seconds() < 300

    @classmethod
    def mint(cls, run: Run) -> tuple[RunToken, str]:
        """A new token for ``run``, not saved yet, and its key: the executor saves it in the
        transaction that moves the run to Starting (one commit less before the launch)."""
        from accounts.models import hash_key

        key = cls.PREFIX + secrets.token_urlsafe(32)
        return cls(run=run, key_hash=hash_key(key)), key

    @classmethod
    def issue(cls, run: Run) -> str:
        token, key = cls.mint(run)
        token.save()
        return key
