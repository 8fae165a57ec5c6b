from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.mixins import AuditedAdmin
from registry.models import ModelFile, ModelVersion, RegisteredModel


class FileInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ModelFile
    extra = 0
    fields = ("path", "size", "sha256")
    readonly_fields = fields
    can_delete = False
    max_num = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RegisteredModel)
class RegisteredModelAdmin(AuditedAdmin):
    list_display = ["name", "team", "created_by", "created_at"]
    search_fields = ["name"]
    list_filter = ["team"]
    readonly_fields = ["created_by", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # through the API, which refuses names a run consumes and frees their blobs


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only here: versions are registered and deleted through the API (which
    refuses to delete a version a run consumes and removes its blobs)."""

    list_display = ["__str__", "framework", "run_number", "file_count", "total_size", "created_by", "created_at"]
    search_fields = ["model__name"]
    inlines = [FileInline]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
