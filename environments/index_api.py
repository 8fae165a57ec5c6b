"""Allowed package indexes API (``/api/package-indexes/``): everyone signed in reads
their names and URLs (to select them in a spec); admins create, change and delete them.
The password is write-only, as a team secret's value is (environments.team_secrets)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from accounts.permissions import SIGNED_IN, AdminWriteOrReadOnly
from audit.services import record
from config.responses import VALIDATION_ERROR
from environments import indexes
from environments.models import PackageIndex


class PackageIndexSerializer(serializers.ModelSerializer[PackageIndex]):
    url = serializers.CharField(
        max_length=500,
        help_text="https://, http:// or file:// URL of a PEP 503 index. Credentials given in it "
        "(https://user:password@host/…) are moved to username and password.",
    )
    password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, trim_whitespace=False, help_text="Write-only."
    )
    has_password = serializers.SerializerMethodField(help_text="Whether a password is set (it is never shown).")
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = PackageIndex
        fields = [
            "id",
            "name",
            "url",
            "username",
            "password",
            "has_password",
            "description",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_has_password(self, index: PackageIndex) -> bool:
        return bool(index.password)

    def validate_name(self, name: str) -> str:
        if not indexes.NAME_PATTERN.match(name):
            raise serializers.ValidationError("Use letters, digits, '.', '-' and '_', starting with a letter or digit.")
        taken = PackageIndex.objects.filter(name=name)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(f"A package index '{name}' already exists.")
        return name

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "url" in attrs:
            bare, user, password = indexes.split_credentials(attrs["url"])
            problem = indexes.check_index_url(bare)
            if problem:
                raise serializers.ValidationError({"url": [problem]})
            attrs["url"] = bare.rstrip("/")
            if user:
                attrs.setdefault("username", user)
            if password:
                attrs.setdefault("password", password)
        return attrs


@extend_schema_view(
    create=extend_schema(responses={201: PackageIndexSerializer, 400: VALIDATION_ERROR}),
    update=extend_schema(responses={200: PackageIndexSerializer, 400: VALIDATION_ERROR}),
    partial_update=extend_schema(responses={200: PackageIndexSerializer, 400: VALIDATION_ERROR}),
)
class PackageIndexViewSet(viewsets.ModelViewSet[PackageIndex]):
    """Package indexes environment specs may select (``package_indexes``,
    ``default_index``, or ``--extra-index-url`` lines with their URL)."""

    serializer_class = PackageIndexSerializer
    permission_classes = [*SIGNED_IN, AdminWriteOrReadOnly]
    filterset_fields = ["name"]
    queryset = PackageIndex.objects.select_related("created_by").order_by("name")

    @staticmethod
    def _public(index: PackageIndex) -> dict[str, Any]:
        # No key may look secret (audit masks those): the password shows only as "rotated".
        return {"name": index.name, "url": index.url, "username": index.username}

    def perform_create(self, serializer: Any) -> None:
        index = serializer.save(created_by=self.request.user)
        record(
            "environments.packageindex.created",
            actor=self.request.user,
            obj=index,
            changes=self._public(index),
            secret_values=[index.password],
        )

    def perform_update(self, serializer: Any) -> None:
        before = self._public(serializer.instance)
        old_password = serializer.instance.password
        index = serializer.save()
        after = self._public(index)
        changes: dict[str, Any] = {k: [before[k], v] for k, v in after.items() if before[k] != v}
        if index.password != old_password:
            changes["rotated"] = True  # the password changed
        record(
            "environments.packageindex.updated",
            actor=self.request.user,
            obj=index,
            changes=changes,
            secret_values=[old_password, index.password],
        )

    def perform_destroy(self, instance: PackageIndex) -> None:
        record(
            "environments.packageindex.deleted",
            actor=self.request.user,
            object_repr=instance.name,
            changes=self._public(instance),
            secret_values=[instance.password],
        )
        instance.delete()
