from typing import Any

from django import forms
from django.contrib import admin

from audit.mixins import AuditedAdmin
from environments.models import Environment, EnvironmentBuild, EnvironmentVersion, PackageIndex


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


class PackageIndexForm(forms.ModelForm):  # type: ignore[type-arg]
    """The password is write-only here as in the API: never rendered, blank keeps it."""

    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), help_text="Leave blank to keep the current one."
    )

    class Meta:
        model = PackageIndex
        fields = ["name", "url", "username", "password", "description"]

    def clean_url(self) -> str:
        from environments.indexes import check_index_url

        url = self.cleaned_data["url"].strip().rstrip("/")
        problem = check_index_url(url)
        if problem:
            raise forms.ValidationError(problem)
        return url

    def clean_password(self) -> str:
        given = self.cleaned_data.get("password") or ""
        return given or (self.instance.password if self.instance.pk else "")


@admin.register(PackageIndex)
class PackageIndexAdmin(AuditedAdmin):
    """Allowed package indexes (also at /api/package-indexes/ and on the dashboard)."""

    form = PackageIndexForm
    list_display = ["name", "url", "username", "created_at"]
    search_fields = ["name", "url"]
