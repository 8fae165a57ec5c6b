from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from audit.mixins import AuditedAdmin
from compute.models import ComputeTarget


@admin.register(ComputeTarget)
class ComputeTargetAdmin(AuditedAdmin):
    """The form validates ``config`` through ``ComputeTarget.clean`` (errors on the field);
    unknown keys are saved and shown as warnings."""

    list_display = ["name", "kind", "max_concurrent_runs", "max_nodes", "max_processes_per_node", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for warning in obj.config_warnings:
            messages.warning(request, warning)
