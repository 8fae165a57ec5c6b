from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from audit.mixins import AuditedAdmin
from datasets import services
from datasets.models import Dataset, DatasetFile, DatasetVersion, Datastore


@admin.register(Datastore)
class DatastoreAdmin(AuditedAdmin):
    """Root paths are checked against RUNYARD_DATASTORE_ROOTS by ``Datastore.clean``."""

    list_display = ["name", "team", "root_path", "read_only", "is_default", "created_at"]
    search_fields = ["name", "root_path"]
    readonly_fields = ["created_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class FileInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DatasetFile
    extra = 0
    fields = ("path", "size", "sha256", "url")
    readonly_fields = fields
    can_delete = False
    max_num = 0
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class VersionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = DatasetVersion
    extra = 0
    fields = ("version", "file_count", "total_size", "created_by", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(AuditedAdmin):
    list_display = ["name", "team", "created_by", "created_at"]
    list_filter = ["team"]
    search_fields = ["name"]
    readonly_fields = ["created_by", "created_at"]
    inlines = [VersionInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Runs refer to datasets by name: it cannot change once made.
        return [*self.readonly_fields, "name", "team"] if obj else list(self.readonly_fields)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            with transaction.atomic():
                services.delete_dataset(obj, actor=request.user, via="admin")
        except services.InUse as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(DatasetVersion)
class DatasetVersionAdmin(AuditedAdmin):
    """Versions are registered through the API; here only description and tags change."""

    list_display = ["dataset", "version", "file_count", "total_size", "created_by", "created_at"]
    list_filter = ["dataset__team"]
    search_fields = ["dataset__name"]
    readonly_fields = [
        "dataset",
        "version",
        "datastore",
        "source_path",
        "total_size",
        "file_count",
        "single_file",
        "created_by",
        "created_at",
    ]
    fields = [*readonly_fields[:2], "description", "tags", *readonly_fields[2:]]
    inlines = [FileInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            with transaction.atomic():
                services.delete_version(obj, actor=request.user, via="admin")
        except services.InUse as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)
