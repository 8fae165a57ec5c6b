"""Compute targets: where runs execute. Each has its own Celery queue."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from compute import capabilities, configs

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class ComputeTarget(models.Model):
    """A place runs execute: this host (``local``), a Docker host, or a Slurm cluster.

    Targets are shared by all teams and managed by admins. Runs for a target go to the
    Celery queue ``compute.<name>``, so its workers can live on the machine that can
    reach it. ``config`` is the kind's settings as given (see ``compute.configs``);
    ``typed_config`` is the parsed, validated form.
    """

    class Kind(models.TextChoices):
        LOCAL = "local", "Local processes"
        DOCKER = "docker", "Docker containers"
        SLURM = "slurm", "Slurm cluster"

    name = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    description = models.TextField(blank=True)
    max_concurrent_runs = models.PositiveIntegerField(default=2)
    # Left empty, it follows the kind (capabilities.DEFAULT_MAX_NODES) when saved.
    max_nodes = models.PositiveIntegerField(default=None, blank=True)
    max_processes_per_node = models.PositiveIntegerField(default=8)
    config = models.JSONField(default=dict, blank=True)
    # Defaults for the runs on it (runs.policy): retries per cause, hang timeout.
    failure_policy = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def fill_defaults(self) -> None:
        if self.max_nodes is None:
            self.max_nodes = capabilities.default_max_nodes(self.kind)

    def problems(self) -> tuple[dict[str, list[str]], configs.ConfigError | None]:
        """Field → messages for everything but ``config``, and the config's error."""
        self.fill_defaults()
        errors: dict[str, list[str]] = {}
        if not _NAME.match(self.name or ""):
            errors["name"] = ["Use letters, digits, '-' and '_', starting with a letter."]
        if self.kind == self.Kind.LOCAL and self.max_nodes != 1:
            errors["max_nodes"] = ["A local target has exactly one node."]
        elif self.max_nodes < 1:
            errors["max_nodes"] = ["Must be at least 1."]
        if self.max_processes_per_node is not None and self.max_processes_per_node < 1:
            errors["max_processes_per_node"] = ["Must be at least 1."]
        config_error = None
        if self.kind in self.Kind.values:
            try:
                configs.parse(self.kind, self.config)
            except configs.ConfigError as exc:
                config_error = exc
        return errors, config_error

    def clean(self) -> None:
        errors, config_error = self.problems()
        if config_error is not None:
            errors["config"] = config_error.messages()
        if errors:
            raise ValidationError(errors)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.fill_defaults()
        super().save(*args, **kwargs)

    @property
    def typed_config(self) -> configs.TargetConfig:
        """The kind's parsed config; ``configs.ConfigError`` if the stored one is invalid."""
        return configs.parse(self.kind, self.config)[0]

    @property
    def config_warnings(self) -> list[str]:
        """Unknown keys in the stored config (and its errors, for a row saved unvalidated)."""
        try:
            return configs.parse(self.kind, self.config)[1]
        except configs.ConfigError as exc:
            return [f"config is invalid, runs on this target will fail: {m}" for m in exc.messages()]

    @property
    def queue(self) -> str:
        return f"compute.{self.name}"
