"""Sweep API shapes. Output serializers describe the dicts the views build."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from runs.serializers import JSONValueField, SubmitSerializer
from runs.status import Status
from scheduling.priority import NAMES as PRIORITY_NAMES
from scheduling.priority import label as priority_label
from sweeps.models import Sweep
from sweeps.services import ChildRow

# A distribution is Azure's [kind, [arguments]]: ["uniform", [0.01, 0.1]], ["choice", [[16, 32]]].
DISTRIBUTION_SCHEMA = {
    "type": "array",
    "minItems": 2,
    "maxItems": 2,
    "items": {},
    "description": 'Azure\'s [kind, [arguments]], e.g. ["loguniform", [-6, -1]] or ["choice", [[16, 32]]]',
}


@extend_schema_field({"type": "object", "additionalProperties": DISTRIBUTION_SCHEMA})
class ParameterSpaceField(serializers.JSONField):
    pass


class SamplingSerializer(serializers.Serializer[Any]):
    name = serializers.ChoiceField(choices=["RANDOM", "GRID", "BayesianOptimization"])
    parameter_space = ParameterSpaceField()
    parameter_order = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="The parameters in the order given (the stored object's keys may come back reordered).",
    )
    properties = serializers.DictField(required=False)


class PolicyPropertiesSerializer(serializers.Serializer[Any]):
    evaluation_interval = serializers.IntegerField(required=False)
    delay_evaluation = serializers.IntegerField(required=False)
    slack_factor = serializers.FloatField(required=False)
    slack_amount = serializers.FloatField(required=False)
    truncation_percentage = serializers.IntegerField(required=False)


class PolicySerializer(serializers.Serializer[Any]):
    name = serializers.ChoiceField(choices=["Bandit", "MedianStopping", "TruncationSelection", "Default"])
    properties = PolicyPropertiesSerializer(required=False)


class PrimaryMetricSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    goal = serializers.ChoiceField(choices=["maximize", "minimize"])


class HyperDriveSerializer(serializers.Serializer[Any]):
    """HyperDriveConfig's fields as Azure's SDK serialises them (checked by sweeps.config)."""

    hyperparameter_sampling = SamplingSerializer()
    policy = PolicySerializer(required=False, allow_null=True)
    primary_metric_config = PrimaryMetricSerializer()
    max_total_runs = serializers.IntegerField()
    max_concurrent_runs = serializers.IntegerField(required=False)
    max_duration_minutes = serializers.IntegerField(required=False)
    seed = serializers.IntegerField(required=False, help_text="Drawn and recorded when absent.")


@extend_schema_field(HyperDriveSerializer)
class HyperDriveField(JSONValueField):
    pass


class SweepSubmitSerializer(SubmitSerializer):
    """A run's submission (the template every child shares) plus ``hyperdrive``."""

    hyperdrive = HyperDriveField(required=False, expect=dict, help_text="JSON-encoded in a multipart form")


class ChildSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    index = serializers.IntegerField()
    display_name = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    status_reason = serializers.CharField()
    parameters = serializers.DictField()
    arguments = serializers.ListField(child=serializers.JSONField())
    best_primary_metric = serializers.FloatField(allow_null=True)
    last_primary_metric = serializers.FloatField(allow_null=True)
    intervals = serializers.IntegerField(help_text="How many times the primary metric was logged.")
    terminated_by = serializers.CharField(help_text="The policy that stopped it; empty otherwise.")
    termination_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    running_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


def child_data(row: ChildRow) -> dict[str, Any]:
    run = row.run
    return {
        "id": run.pk,
        "index": row.index,
        "display_name": run.display_name,
        "status": run.status,
        "status_reason": run.status_reason,
        "parameters": row.params,
        "arguments": run.arguments,
        "best_primary_metric": row.best,
        "last_primary_metric": row.last,
        "intervals": row.intervals,
        "terminated_by": row.terminated_by,
        "termination_reason": row.termination_reason,
        "created_at": run.created_at,
        "running_at": run.running_at,
        "ended_at": run.ended_at,
    }


class SweepSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(help_text="The sweep's parent run id")
    display_name = serializers.CharField()
    experiment = serializers.CharField()
    team = serializers.CharField()
    submitted_by = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    status_reason = serializers.CharField()
    script = serializers.CharField()
    arguments = serializers.ListField(child=serializers.JSONField())
    environment = serializers.CharField()
    compute_target = serializers.CharField()
    priority = serializers.ChoiceField(
        choices=list(PRIORITY_NAMES), help_text="Every child queues with it (POST /api/runs/{id}/priority/ changes it)."
    )
    config = HyperDriveSerializer()
    proposed = serializers.IntegerField(help_text="Children created so far")
    exhausted = serializers.BooleanField()
    children_by_status = serializers.DictField(child=serializers.IntegerField())
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()
    best_child = ChildSerializer(allow_null=True)


def sweep_data(sweep: Sweep, rows: list[ChildRow], best: ChildRow | None) -> dict[str, Any]:
    run = sweep.run
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.run.status] = counts.get(row.run.status, 0) + 1
    env = sweep.environment_version
    return {
        "id": run.pk,
        "display_name": run.display_name,
        "experiment": run.experiment.name,
        "team": run.team.slug,
        "submitted_by": run.submitted_by.get_username(),
        "status": run.status,
        "status_reason": run.status_reason,
        "script": run.entrypoint,
        "arguments": run.arguments,
        "environment": f"{env.environment.name}:{env.version}",
        "compute_target": sweep.compute_target.name,
        "priority": priority_label(run.priority),
        "config": sweep.config,
        "proposed": sweep.proposed,
        "exhausted": sweep.exhausted,
        "children_by_status": counts,
        "created_at": sweep.created_at,
        "ended_at": sweep.ended_at,
        "end_reason": sweep.end_reason,
        "best_child": child_data(best) if best else None,
    }


class SeriesPointSerializer(serializers.Serializer[Any]):
    step = serializers.IntegerField(allow_null=True)
    value = serializers.FloatField()
    at = serializers.DateTimeField()


class ChildSeriesSerializer(serializers.Serializer[Any]):
    run = serializers.IntegerField()
    points = SeriesPointSerializer(many=True)


class SweepCancelSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class SweepListSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    experiment = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    sampling = serializers.CharField()
    primary_metric = serializers.CharField()
    goal = serializers.CharField()
    proposed = serializers.IntegerField()
    max_total_runs = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


def sweep_list_data(sweep: Sweep) -> dict[str, Any]:
    config = sweep.config
    return {
        "id": sweep.pk,
        "display_name": sweep.run.display_name,
        "experiment": sweep.run.experiment.name,
        "status": sweep.run.status,
        "sampling": config["hyperparameter_sampling"]["name"],
        "primary_metric": config["primary_metric_config"]["name"],
        "goal": config["primary_metric_config"]["goal"],
        "proposed": sweep.proposed,
        "max_total_runs": config["max_total_runs"],
        "created_at": sweep.created_at,
        "ended_at": sweep.ended_at,
    }
