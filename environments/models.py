"""Environments, their immutable versions, and content-hash builds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from environments import secrets
from environments import spec as specs

RESERVED_PREFIX = "Runyard-"


class Environment(models.Model):
    """A named software environment. Editing it registers a new version.

    Curated environments (``curated=True``, names beginning ``Runyard-``) belong to no
    team, are visible to everyone and are created and edited by admins only.
    """

    name = models.CharField(max_length=128)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    curated = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    # Defaults for the runs using it (runs.policy), under the run's own, over the target's.
    failure_policy = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="environment_name_per_team"),
            models.UniqueConstraint(fields=["name"], condition=models.Q(curated=True), name="curated_environment_name"),
            models.CheckConstraint(
                condition=models.Q(curated=False) | models.Q(team__isnull=True), name="curated_has_no_team"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.curated and not self.name.startswith(RESERVED_PREFIX):
            raise ValidationError({"name": f"Curated environment names begin with '{RESERVED_PREFIX}'."})
        if not self.curated and self.name.startswith(RESERVED_PREFIX):
            raise ValidationError(
                {"name": f"Names beginning with '{RESERVED_PREFIX}' are reserved for curated environments."}
            )

    def latest_version(self) -> EnvironmentVersion | None:
        return self.versions.order_by("-version").first()

    def add_version(self, spec: dict[str, Any], user: Any = None, description: str = "") -> EnvironmentVersion:
        """Register a new version; identical specs still count. The environment's row lock
        serialises concurrent saves, so version numbers never collide. Secret values
        are kept apart from the stored spec; ``***`` for one keeps the previous value."""
        normalized = specs.normalize(spec)
        with transaction.atomic():
            locked = Environment.objects.select_for_update().get(pk=self.pk)
            previous = locked.versions.order_by("-version").first()
            public, secret_values = secrets.public_spec(normalized, previous)
            return EnvironmentVersion.objects.create(
                environment=self,
                version=(previous.version if previous else 0) + 1,
                spec=public,
                secret_values=secret_values,
                content_hash=specs.content_hash(public),
                description=description,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )


class EnvironmentVersion(models.Model):
    """One immutable version of an environment's spec. Runs pin a version."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    spec = models.JSONField()
    # Real values of the spec's secret_variables: write-only, never serialized.
    secret_values = models.JSONField(default=dict, blank=True, editable=False)
    content_hash = models.CharField(max_length=64, db_index=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["environment", "-version"]
        constraints = [models.UniqueConstraint(fields=["environment", "version"], name="environment_version_unique")]

    def __str__(self) -> str:
        return f"{self.environment.name}:{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValidationError("Environment versions are immutable; register a new version instead.")
        super().save(*args, **kwargs)


class IllegalBuildTransition(Exception):
    """The build row is not in a status this move may start from (or another builder
    moved it first)."""

    def __init__(self, build_id: int, current: str, target: str) -> None:
        super().__init__(f"Build {build_id} cannot move from {current} to {target}.")
        self.build_id = build_id
        self.current = current
        self.target = target


# A cache hit records when the build was last used at most this often: every cached
# run passes through adopt() before its launch, and each write is a commit.
LAST_USED_PRECISION = timedelta(minutes=1)


class EnvironmentBuild(models.Model):
    """A materialised environment (a virtualenv or an image), shared by every version
    and every environment whose spec has the same content hash, per location.

    Its status changes only through the methods below (the one place, like
    ``runs.lifecycle`` for runs). Each is a conditional UPDATE on the status this
    instance last saw, so of several racing callers one wins and the others get
    IllegalBuildTransition. ``start`` numbers the attempt, and only that attempt may
    ``succeed`` or ``fail``: a builder that was superseded cannot overwrite the outcome
    of the build that replaced it.
    """

    class Kind(models.TextChoices):
        VENV = "venv", "Virtualenv"
        IMAGE = "image", "Container image"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        BUILDING = "building", "Building"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    CANCELED_ERROR = "canceled"

    content_hash = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    location = models.CharField(max_length=255, help_text="Where the build lives: a directory or an engine URL.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(max_length=500, blank=True, help_text="Venv directory or image tag.")
    error = models.TextField(blank=True)
    log_seq = models.PositiveBigIntegerField(default=0)
    attempt = models.PositiveIntegerField(default=0, help_text="How many times this build was started.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "location", "content_hash"], name="build_unique_per_location")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.content_hash[:12]} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @classmethod
    def for_content(cls, kind: str, location: str, content_hash: str) -> EnvironmentBuild:
        """The row of this build, created on first use (racing creators share one)."""
        for _ in range(3):
            row = cls.objects.filter(kind=kind, location=location, content_hash=content_hash).first()
            if row is not None:
                return row
            try:
                with transaction.atomic():
                    return cls.objects.create(kind=kind, location=location, content_hash=content_hash)
            except IntegrityError:
                continue
        raise RuntimeError("could not create the build record")

    # ---- transitions ---------------------------------------------------------------
    def start(self) -> None:
        """Begin a new attempt, its log replacing the last one's. Legal from every
        status, BUILDING included: the caller holds the build lock, so a row still
        BUILDING belongs to a builder that died."""
        now = timezone.now()
        with transaction.atomic():
            self._move(
                self.Status.BUILDING,
                set(self.Status),
                {"attempt": self.attempt + 1, "started_at": now, "finished_at": None, "error": "", "log_seq": 0},
            )
            BuildLogLine.objects.filter(build=self).delete()

    def succeed(self, path: str) -> None:
        """This attempt built ``path`` (a venv directory or an image tag)."""
        now = timezone.now()
        self._move(
            self.Status.SUCCEEDED, {self.Status.BUILDING}, {"path": path, "finished_at": now, "last_used_at": now}
        )

    def fail(self, error: str) -> None:
        self._move(self.Status.FAILED, {self.Status.BUILDING}, {"error": error, "finished_at": timezone.now()})

    def cancel(self) -> None:
        """A canceled build is a failed one (no build status of its own), so the next
        run that needs it builds it again."""
        self.fail(self.CANCELED_ERROR)

    def adopt(self, path: str, *, lock_held: bool = False) -> None:
        """A finished build of this hash was found at ``path`` (built by an attempt
        this database may never have recorded: a shared cache, a restored database).

        Without the build lock a BUILDING row is refused: its builder may be about to
        record the outcome. With it, the builder is known dead and the found build
        wins. An already-succeeded row only has its last use refreshed, at most once
        per LAST_USED_PRECISION and without a read back."""
        for _ in range(3):
            now = timezone.now()
            if self.status == self.Status.SUCCEEDED and self.path == path:
                if self.last_used_at is None or now - self.last_used_at > LAST_USED_PRECISION:
                    EnvironmentBuild.objects.filter(pk=self.pk).update(last_used_at=now)
                    self.last_used_at = now
                return
            if self.status == self.Status.BUILDING and not lock_held:
                raise IllegalBuildTransition(self.pk, self.status, self.Status.SUCCEEDED)
            try:
                fields = {"path": path, "error": "", "finished_at": now, "last_used_at": now}
                self._move(self.Status.SUCCEEDED, set(self.Status), fields)
                return
            except IllegalBuildTransition:
                self.refresh_from_db()  # another caller moved it first: look again
                continue
        raise IllegalBuildTransition(self.pk, self.status, self.Status.SUCCEEDED)

    def _move(self, to: str, allowed: set[str], fields: dict[str, Any]) -> None:
        if self.status not in allowed:
            raise IllegalBuildTransition(self.pk, self.status, to)
        seen = {"status": self.status, "attempt": self.attempt}
        if EnvironmentBuild.objects.filter(pk=self.pk, **seen).update(status=to, **fields) != 1:
            # Not read back into this instance: its attempt is its builder's claim on the row.
            current = EnvironmentBuild.objects.filter(pk=self.pk).values_list("status", flat=True).first()
            raise IllegalBuildTransition(self.pk, current or "deleted", to)
        self.status = to
        for name, value in fields.items():
            setattr(self, name, value)


class BuildLogLine(models.Model):
    """One line of a build's log, numbered like run log lines."""

    build = models.ForeignKey(EnvironmentBuild, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveBigIntegerField()
    text = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["build", "seq"]
        constraints = [models.UniqueConstraint(fields=["build", "seq"], name="build_log_seq_unique")]


class TeamSecret(models.Model):
    """A value a team's runs get without anyone reading it back: an environment
    variable whose value is ``${secret:NAME}`` receives it at launch (and the run's log
    masks it). Write-only in the API; stored in the database as given."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=128)
    value = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="team_secret_name_per_team")]

    def __str__(self) -> str:
        return self.name


class PackageIndex(models.Model):
    """A package index admins allow environment specs to select by name (or by its URL
    in a pip option line): environments.indexes. ``password`` is write-only in the API
    and masked in build logs and the audit trail."""

    name = models.CharField(max_length=64, unique=True)
    url = models.CharField(max_length=500, help_text="A PEP 503 index: https://, http:// or file://, no credentials.")
    username = models.CharField(max_length=200, blank=True)
    password = models.TextField(blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
