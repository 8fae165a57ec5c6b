"""Team secrets API: write-only values a team's environments reference as
``${secret:NAME}`` (environments.secrets resolves them at launch)."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from accounts.models import Team
from accounts.permissions import SIGNED_IN, default_team, is_admin, scope_to_teams
from audit.services import record
from config.responses import VALIDATION_ERROR
from environments.models import TeamSecret

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


class TeamSecretSerializer(serializers.ModelSerializer[TeamSecret]):
    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    value = serializers.CharField(write_only=True, trim_whitespace=False, help_text="Write-only: never shown again.")
    set = serializers.SerializerMethodField(help_text="Always true: a secret exists only with a value.")
    created_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TeamSecret
        validators: list[Any] = []  # uniqueness per team is checked in validate()
        fields = ["id", "team", "name", "value", "set", "created_by", "created_at", "updated_at"]

    def get_set(self, secret: TeamSecret) -> bool:
        return bool(secret.value)

    def validate_name(self, name: str) -> str:
        if not _NAME.match(name):
            raise serializers.ValidationError("Use letters, digits, '_', '.' and '-', starting with a letter or '_'.")
        return name

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        request = self.context["request"]
        if self.instance is None:
            attrs["team"] = default_team(request, attrs.get("team"))
            if TeamSecret.objects.filter(team=attrs["team"], name=attrs["name"]).exists():
                raise serializers.ValidationError(
                    {"name": [f"Team '{attrs['team'].slug}' already has a secret '{attrs['name']}'."]}
                )
        else:
            for field in ("team", "name"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError({field: ["Cannot change; delete and create the secret."]})
        return attrs


@extend_schema_view(
    create=extend_schema(responses={201: TeamSecretSerializer, 400: VALIDATION_ERROR}),
    update=extend_schema(responses={200: TeamSecretSerializer, 400: VALIDATION_ERROR}),
    partial_update=extend_schema(responses={200: TeamSecretSerializer, 400: VALIDATION_ERROR}),
)
class TeamSecretViewSet(viewsets.ModelViewSet[TeamSecret]):
    """A team's secrets: names and whether they are set; values are write-only."""

    serializer_class = TeamSecretSerializer
    permission_classes = SIGNED_IN
    filterset_fields = ["name"]

    def get_queryset(self) -> Any:
        secrets = TeamSecret.objects.select_related("team", "created_by").order_by("team__slug", "name")
        return secrets if is_admin(self.request.user) else scope_to_teams(self.request, secrets)

    def perform_create(self, serializer: Any) -> None:
        secret = serializer.save(created_by=self.request.user)
        record(
            "environments.teamsecret.created",
            actor=self.request.user,
            obj=secret,
            changes={"name": secret.name},
            secret_values=[secret.value],
        )

    def perform_update(self, serializer: Any) -> None:
        old = serializer.instance.value
        secret = serializer.save()
        record(
            "environments.teamsecret.updated",
            actor=self.request.user,
            obj=secret,
            changes={"name": secret.name, "value_changed": secret.value != old},
            secret_values=[old, secret.value],
        )

    def perform_destroy(self, instance: TeamSecret) -> None:
        record(
            "environments.teamsecret.deleted",
            actor=self.request.user,
            object_repr=instance.name,
            team=instance.team,
            secret_values=[instance.value],
        )
        instance.delete()
