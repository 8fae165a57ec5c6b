from django.contrib import admin

from accounts.models import ApiToken, Membership, Team
from audit.mixins import AuditedAdmin


class MembershipInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["team", "role"]


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    list_display = ["name", "user", "key_prefix", "created_at", "last_used_at", "expires_at"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at"]
    exclude = ["key_hash"]
    list_filter = ["user"]

    def has_add_permission(self, request: object) -> bool:
        return False  # tokens are issued through the API, which shows the key once
