"""Sweeps (Azure's HyperDrive runs): a parent run, its configuration and its children."""

from __future__ import annotations

from django.db import models

from runs.models import Run


class Sweep(models.Model):
    """The controller's state of one sweep, keyed by its parent run.

    The parent run is born Running and has no compute target, environment or worker:
    nothing executes it. Its children are ordinary runs made from ``template`` (the
    submission every child shares, with the parent's snapshot) plus their parameters.
    ``config`` is ``sweeps.config.SweepConfig.to_json()`` (seed included), so a restarted
    controller and a replayed sweep read the same thing. Rows are changed only under
    ``select_for_update`` in ``sweeps.controller``.
    """

    run = models.OneToOneField(Run, primary_key=True, on_delete=models.CASCADE, related_name="sweep")
    config = models.JSONField()
    template = models.JSONField(help_text="script, command, arguments, inputs, distributed, tags, max duration")
    environment_version = models.ForeignKey(
        "environments.EnvironmentVersion", on_delete=models.PROTECT, related_name="+"
    )
    compute_target = models.ForeignKey("compute.ComputeTarget", on_delete=models.PROTECT, related_name="+")
    proposed = models.PositiveIntegerField(default=0, help_text="Children created so far (the next child's index).")
    exhausted = models.BooleanField(default=False, help_text="The sampler has no new point to propose.")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            # The beat's safety tick: sweeps not ended yet.
            models.Index(fields=["ended_at"], name="sweep_open"),
        ]

    def __str__(self) -> str:
        return f"sweep {self.pk}"


class SweepChild(models.Model):
    """One child of a sweep: its index, its parameters, and what the policy decided."""

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="children")
    index = models.PositiveIntegerField()
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="sweep_child")
    params = models.JSONField()
    evaluated = models.PositiveIntegerField(default=0, help_text="The last interval the policy was applied at.")
    terminated_by = models.CharField(max_length=40, blank=True, help_text="The policy that stopped it, if any.")
    termination_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["sweep", "index"]
        constraints = [
            # No index proposed twice, even by two controllers racing past a lost lock.
            models.UniqueConstraint(fields=["sweep", "index"], name="sweep_child_index_unique"),
        ]

    def __str__(self) -> str:
        return f"sweep {self.sweep_id} child {self.index}"
