from typing import Any

from django.contrib import admin

from audit.mixins import AuditedAdmin
from environments.models import Environment, EnvironmentBuild, EnvironmentVersion


class VersionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = EnvironmentVersion
    extra = 0
    fields = ("version", "content_hash", "spec", "created_by", "created_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Environment)
class EnvironmentAdmin(AuditedAdmin):
    """Curated environments are managed here by admins; versions are added via the API."""

    list_display = ["name", "curated", "team", "created_by", "created_at"]
    list_filter = ["curated", "team"]
    search_fields = ["name"]
    inlines = [VersionInline]


@admin.register(EnvironmentVersion)
class EnvironmentVersionAdmin(AuditedAdmin):
    list_display = ["environment", "version", "content_hash", "created_by", "created_at"]
    search_fields = ["environment__name", "content_hash"]

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        # Immutable once saved.
        return ["environment", "version", "spec", "content_hash", "description"] if obj else ["content_hash"]

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        if not change:
            from environments import secrets
            from environments import spec as specs

            obj.spec, obj.secret_values = secrets.public_spec(
                specs.normalize(obj.spec), obj.environment.latest_version()
            )
            obj.content_hash = specs.content_hash(obj.spec)
        super().save_model(request, obj, form, change)


@admin.register(EnvironmentBuild)
class EnvironmentBuildAdmin(AuditedAdmin):
    list_display = ["content_hash", "kind", "location", "status", "started_at", "finished_at"]
    list_filter = ["kind", "status"]
    # Its status moves only through the model's transitions (environments.builds).
    readonly_fields = [
        "content_hash",
        "kind",
        "location",
        "status",
        "attempt",
        "path",
        "log_seq",
        "started_at",
        "finished_at",
    ]
