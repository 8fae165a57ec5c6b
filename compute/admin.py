from django.contrib import admin

from audit.mixins import AuditedAdmin
from compute.models import ComputeTarget


@admin.register(ComputeTarget)
class ComputeTargetAdmin(AuditedAdmin):
    list_display = ["name", "kind", "max_concurrent_runs", "max_nodes", "max_processes_per_node", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
