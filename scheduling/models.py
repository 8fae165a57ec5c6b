"""Scheduling settings admins keep per team and target, and what targets hold in total."""

from __future__ import annotations

from django.db import models

from scheduling.priority import Priority


class TeamQuota(models.Model):
    """A team's guaranteed share and limits on one compute target, and the highest
    priority its runs may use there. No row: no guarantee, no limit, priority up to high."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="quotas")
    compute_target = models.ForeignKey("compute.ComputeTarget", on_delete=models.CASCADE, related_name="quotas")
    share = models.PositiveIntegerField(default=0, help_text="Guaranteed concurrent runs (served first).")
    max_runs = models.PositiveIntegerField(null=True, blank=True, help_text="Concurrent runs at most.")
    max_nodes = models.PositiveIntegerField(null=True, blank=True)
    max_processes = models.PositiveIntegerField(null=True, blank=True)
    max_gpus = models.PositiveIntegerField(null=True, blank=True)
    max_priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.HIGH)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["compute_target", "team"]
        constraints = [models.UniqueConstraint(fields=["team", "compute_target"], name="team_quota_unique")]

    def __str__(self) -> str:
        return f"{self.team} on {self.compute_target}"


class TargetPool(models.Model):
    """What a target holds in total, where an admin told Runyard: nodes and GPUs shared by
    all its runs (a Slurm partition's nodes, a host's GPUs). Without it only the target's
    ``max_concurrent_runs`` bounds how many runs start."""

    compute_target = models.OneToOneField("compute.ComputeTarget", on_delete=models.CASCADE, related_name="pool")
    nodes = models.PositiveIntegerField(null=True, blank=True)
    gpus = models.PositiveIntegerField(null=True, blank=True)
    # Preemption (scheduling.preemption) on this target; None: the RUNYARD_PREEMPT_* defaults.
    preempt_grace_seconds = models.FloatField(
        null=True, blank=True, help_text="SIGTERM to SIGKILL for a preempted run (default 30 s)."
    )
    preempt_min_run_seconds = models.FloatField(
        null=True, blank=True, help_text="A resumed run is not preempted again before it ran this long."
    )

    def __str__(self) -> str:
        return f"pool of {self.compute_target}"
