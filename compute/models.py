"""Compute targets: where runs execute. Each has its own Celery queue."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class ComputeTarget(models.Model):
    """A place runs execute: this host (``local``), a Docker host, or a Slurm cluster.

    Targets are shared by all teams and managed by admins. Runs for a target go to the
    Celery queue ``compute.<name>``, so its workers can live on the machine that can
    reach it.
    """

    class Kind(models.TextChoices):
        LOCAL = "local", "Local processes"
        DOCKER = "docker", "Docker containers"
        SLURM = "slurm", "Slurm cluster"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.TextField(blank=True)
    max_concurrent_runs = models.PositiveIntegerField(default=2)
    max_nodes = models.PositiveIntegerField(default=1)
    max_processes_per_node = models.PositiveIntegerField(default=8)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not _NAME.match(self.name or ""):
            raise ValidationError({"name": "Use letters, digits, '-' and '_', starting with a letter."})
        if self.kind == self.Kind.LOCAL and self.max_nodes != 1:
            raise ValidationError({"max_nodes": "A local target has exactly one node."})

    @property
    def queue(self) -> str:
        return f"compute.{self.name}"
