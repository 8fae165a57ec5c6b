"""Serializers and view helpers for tabular versions (mounted by datasets.api)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from datasets.models import TabularProfile


class PreviewColumnSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["string", "int", "float", "bool", "datetime"])


class PreviewSerializer(serializers.Serializer[Any]):
    columns = PreviewColumnSerializer(many=True)
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))
    definition = serializers.JSONField(required=False, help_text="Draft previews: the definition as inferred.")


class TabularProfileSerializer(serializers.ModelSerializer[TabularProfile]):
    # null while status is "none" (nothing asked for yet, so nothing created)
    created_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = TabularProfile
        fields = ["status", "progress", "result", "error", "created_at", "finished_at"]


def rows_param(value: Any) -> int:
    try:
        rows = int(value if value not in (None, "") else 50)
    except (TypeError, ValueError):
        raise serializers.ValidationError({"rows": ["Must be an integer."]}) from None
    if not 0 <= rows <= 1000:
        raise serializers.ValidationError({"rows": ["Must be from 0 to 1000."]})
    return rows
