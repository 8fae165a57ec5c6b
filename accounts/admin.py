from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts import login_limits
from accounts.models import ApiToken, LoginFailure, Membership, Team
from audit.mixins import AuditedAdmin


class LimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form says when a lockout is why it refuses (the backend
    refuses either way)."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username is not None and self.request is not None:
            locked = login_limits.lockout(self.request, username)
            if locked is not None:
                raise ValidationError(locked.message, code="locked")
        return super().clean()


admin.site.login_form = LimitedAdminAuthenticationForm


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


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Deleting rows here lifts a lockout early."""

    list_display = ["username", "ip", "at"]
    search_fields = ["username", "ip"]
    readonly_fields = ["username", "ip", "at"]

    def has_add_permission(self, request: Any) -> bool:
        return False
