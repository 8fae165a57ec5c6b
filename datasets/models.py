"""Datastores, file datasets and their immutable, content-addressed versions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

DATASTORE_NAME = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$",
    "Use letters, digits, '_' and '-', starting with a letter or '_' (at most 64 characters).",
)
# Spaces inside a name are allowed ('diabetes dataset', as Azure's samples name them).
DATASET_NAME = RegexValidator(
    r"^[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,126}[A-Za-z0-9._-])?$",
    "Use letters, digits, spaces, '.', '_' and '-', starting with a letter or digit and not ending with a space "
    "(at most 128 characters).",
)


class Datastore(models.Model):
    """A folder on the worker hosts that datasets can be stored in or referenced from.

    The default datastore lives under the data dir; admins register others, which must
    lie under one of the roots allowed by ``RUNYARD_DATASTORE_ROOTS``. A datastore with
    a ``team`` is that team's (its members read and upload); one without is shared:
    everyone reads it, only admins write to it, except the default datastore, where
    every team reads and writes its own folder ``teams/<team-slug>/`` (see
    datasets.services.view_root).
    """

    name = models.CharField(max_length=64, unique=True, validators=[DATASTORE_NAME])
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The team that owns it; empty: shared by all teams (read-only for non-admins).",
    )
    root_path = models.CharField(max_length=500)
    read_only = models.BooleanField(default=False)
    is_default = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_datastore",
                violation_error_message="Another datastore is already the default.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from datasets.services import DatasetError, check_root_path

        try:
            self.root_path = check_root_path(self.root_path)
        except DatasetError as exc:
            raise ValidationError({"root_path": str(exc)}) from None


class Dataset(models.Model):
    """A named file dataset owned by a team; registering it again adds a version."""

    name = models.CharField(max_length=128, validators=[DATASET_NAME])
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="dataset_name_per_team")]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    """One immutable set of files. Files are stored once by their SHA-256."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    datastore = models.ForeignKey(Datastore, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source_path = models.CharField(max_length=500, blank=True, help_text="Set when referenced from a datastore path.")
    total_size = models.PositiveBigIntegerField(default=0)
    file_count = models.PositiveIntegerField(default=0)
    # sha256 over the sorted (path, sha256, size) of its files: names its mount tree, and
    # indexed for "does another version still use this tree?" when one is deleted.
    content_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    # Made from one file (a datastore file, one URL, one uploaded file): a run gets the
    # file itself as its input path, as Azure does; otherwise the folder holding the files.
    single_file = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-version"]
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="dataset_version_unique")]

    def __str__(self) -> str:
        return f"{self.dataset.name}:{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is not None and set(fields) - {"description", "tags"}:
                raise ValidationError("Dataset versions are immutable except for description and tags.")
            kwargs["update_fields"] = fields if fields is not None else ["description", "tags"]
        super().save(*args, **kwargs)


class DatasetFile(models.Model):
    """A file of a dataset version: its relative path, size and checksum, or, for a web
    file, its URL (fetched when a run uses it; ``sha256`` empty and ``size`` 0 here, the
    worker's URL cache knows the content it got, see datasets.fetch)."""

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1000)
    size = models.PositiveBigIntegerField()
    # Indexed for the blob collector: "does any version still reference this sha256?"
    sha256 = models.CharField(max_length=64, db_index=True, blank=True)
    url = models.CharField(max_length=2000, blank=True)

    class Meta:
        ordering = ["version", "path"]
        constraints = [models.UniqueConstraint(fields=["version", "path"], name="dataset_file_unique")]

    def __str__(self) -> str:
        return self.path
