from typing import Any

from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the trail is append-only, even for admins."""

    list_display = ["at", "actor_name", "action", "object_repr", "team", "ip", "via"]
    list_filter = ["action", "via", "team"]
    search_fields = ["actor_name", "action", "object_repr", "request_id"]
    date_hierarchy = "at"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
