from django.contrib import admin

from audit.mixins import AuditedAdmin
from sweeps.models import Sweep, SweepChild


@admin.register(Sweep)
class SweepAdmin(AuditedAdmin):
    list_display = ["run", "proposed", "exhausted", "created_at", "ended_at", "end_reason"]
    readonly_fields = ["run", "proposed", "created_at"]


@admin.register(SweepChild)
class SweepChildAdmin(AuditedAdmin):
    list_display = ["sweep", "index", "run", "terminated_by"]
    readonly_fields = ["sweep", "index", "run", "params"]
