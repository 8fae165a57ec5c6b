from django.contrib import admin

from audit.mixins import AuditedAdmin
from scheduling.models import TargetPool, TeamQuota


@admin.register(TeamQuota)
class TeamQuotaAdmin(AuditedAdmin):
    list_display = ("team", "compute_target", "share", "max_runs", "max_gpus", "max_priority")
    list_filter = ("compute_target",)


@admin.register(TargetPool)
class TargetPoolAdmin(AuditedAdmin):
    list_display = ("compute_target", "nodes", "gpus", "preempt_grace_seconds", "preempt_min_run_seconds")
