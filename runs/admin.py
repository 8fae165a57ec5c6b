from typing import Any

from django.contrib import admin
from django.db.models import BinaryField

from audit.mixins import AuditedAdmin
from runs.models import (
    Artifact,
    Experiment,
    LogChunk,
    Metric,
    MetricChunk,
    Run,
    RunInput,
    RunProcess,
    RunStatusChange,
    RunToken,
)


@admin.register(Experiment)
class ExperimentAdmin(AuditedAdmin):
    list_display = ["name", "team", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["name"]


class StatusInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RunStatusChange
    extra = 0
    readonly_fields = ["at", "from_status", "to_status", "reason", "actor"]
    can_delete = False


class ProcessInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RunProcess
    extra = 0
    readonly_fields = ["rank", "node_rank", "local_rank", "role", "host", "pid", "status", "exit_code"]
    can_delete = False


@admin.register(Run)
class RunAdmin(AuditedAdmin):
    """Status is read-only here: it changes only through the lifecycle."""

    list_display = ["id", "experiment", "status", "script", "compute_target", "submitted_by", "created_at"]
    list_filter = ["status", "compute_target", "team"]
    search_fields = ["id", "display_name", "script", "experiment__name"]
    readonly_fields = [f.name for f in Run._meta.fields if f.name not in ("display_name", "tags")]
    inlines = [StatusInline, ProcessInline]

    def has_add_permission(self, request: Any) -> bool:
        return False  # runs are submitted through the API, which validates and queues them


@admin.register(RunStatusChange)
class RunStatusChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["run", "at", "from_status", "to_status", "reason", "actor"]
    readonly_fields = ["run", "at", "from_status", "to_status", "reason", "actor"]


for model in (RunProcess, LogChunk, MetricChunk, Metric, Artifact, RunInput):
    admin.site.register(
        model,
        type(
            f"{model.__name__}Admin",
            (AuditedAdmin,),
            {
                "list_display": [f.name for f in model._meta.fields][:6],
                # A chunk's packed arrays are not for reading as bytes (runs.metricchunks).
                "readonly_fields": [f.name for f in model._meta.fields if not isinstance(f, BinaryField)],
            },
        ),
    )


@admin.register(RunToken)
class RunTokenAdmin(AuditedAdmin):
    list_display = ["run", "created_at", "revoked"]
    exclude = ["key_hash"]
    readonly_fields = ["run", "created_at"]
