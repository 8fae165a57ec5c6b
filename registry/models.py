"""The model registry: team-owned model names with immutable, numbered versions.

A version's files are content-addressed in the dataset blob store (``datasets.storage``),
so a file registered from a run's artifacts, a dataset or an upload is stored once.
Its lineage (the producing run, the dataset versions that run consumed, its
environment version and its metrics at registration time) is copied onto the version
when it is registered, so it still reads the same after the run changes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

# Azure's rule (model_name_validation): letters, digits, '-', '_' and '.', starting with a
# letter or digit, at most 255 characters.
MODEL_NAME = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$",
    "Use letters, digits, '.', '_' and '-', starting with a letter or digit (at most 255 characters).",
)


class RegisteredModel(models.Model):
    """A model name in a team (Azure ML's ``Model`` name); registering it again adds a version."""

    name = models.CharField(max_length=255, validators=[MODEL_NAME])
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="model_name_per_team")]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    """One immutable registration of a model: files, framework, lineage. Only
    ``description``, ``tags`` and (add-only) ``properties`` change afterwards."""

    EDITABLE = frozenset({"description", "tags", "properties"})

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    # Azure's properties: a key once set keeps its value (add-only).
    properties = models.JSONField(default=dict, blank=True)
    framework = models.CharField(max_length=64, blank=True)
    framework_version = models.CharField(max_length=64, blank=True)
    # Lineage. The run may be deleted later: the version keeps its id and metrics.
    run = models.ForeignKey("runs.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="models")
    run_number = models.PositiveBigIntegerField(null=True, blank=True, help_text="The producing run's id.")
    experiment_name = models.CharField(max_length=128, blank=True)
    source_path = models.CharField(max_length=1000, blank=True, help_text="model_path in the run's artifacts.")
    environment_version = models.ForeignKey(
        "environments.EnvironmentVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    datasets = models.ManyToManyField("datasets.DatasetVersion", blank=True, related_name="+")
    # The run's metrics when the version was registered: {name: last value (or list)}.
    metrics = models.JSONField(default=dict, blank=True)
    total_size = models.PositiveBigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    # sha256 over the sorted (path, sha256, size) of its files: names its read-only tree.
    content_sha256 = models.CharField(max_length=64, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-version"]
        constraints = [models.UniqueConstraint(fields=["model", "version"], name="model_version_unique")]
        indexes = [
            # Model.list(ws, run_id=...) and a run page's "models it produced".
            models.Index(fields=["run", "-created_at"], name="model_version_run"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}:{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is not None and set(fields) - self.EDITABLE:
                raise ValidationError("Model versions are immutable except for description, tags and properties.")
            kwargs["update_fields"] = fields if fields is not None else sorted(self.EDITABLE)
        super().save(*args, **kwargs)


class ModelFile(models.Model):
    """A file of a model version: its relative path, size and checksum (its blob's name)."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1000)
    size = models.PositiveBigIntegerField()
    # Indexed for the blob collector: "does any model version still reference this sha256?"
    sha256 = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["version", "path"]
        constraints = [models.UniqueConstraint(fields=["version", "path"], name="model_file_unique")]

    def __str__(self) -> str:
        return self.path
