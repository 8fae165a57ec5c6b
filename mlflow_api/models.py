"""What MLflow logs that Runyard's run has no place for: its dataset inputs (log_inputs)."""

from __future__ import annotations

from typing import Any

from django.db import models


class DatasetInput(models.Model):
    """A dataset an MLflow client said the run used (``mlflow.log_input``): its name,
    digest and source as MLflow describes them, with the input's tags (its context)."""

    run = models.ForeignKey("runs.Run", on_delete=models.CASCADE, related_name="mlflow_inputs")
    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=36)
    source_type = models.CharField(max_length=64)
    source = models.TextField()
    schema = models.TextField(blank=True)
    profile = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            # MLflow logs a (name, digest) once per run: logging it again is a no-op.
            models.UniqueConstraint(fields=["run", "name", "digest"], name="mlflow_input_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.digest}) of run {self.run_id}"

    def as_json(self) -> dict[str, Any]:
        dataset: dict[str, Any] = {
            "name": self.name,
            "digest": self.digest,
            "source_type": self.source_type,
            "source": self.source,
        }
        if self.schema:
            dataset["schema"] = self.schema
        if self.profile:
            dataset["profile"] = self.profile
        return {"tags": self.tags, "dataset": dataset}
