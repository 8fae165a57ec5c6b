"""Response shapes shared by every app's API: errors, and objects keyed by name.

Only for the OpenAPI schema (and so the generated frontend types); the views build these
bodies themselves, and tests/test_schema.py checks real bodies against what is documented.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers


class ResponseSchema(AutoSchema):
    """A model serializer writes every field of its instance, so in a response all of them
    are required (a model default only makes a field optional on input). Plain serializers
    describe dicts and keep ``required=False`` for keys that may be absent."""

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        if direction == "response" and isinstance(force_instance(serializer), serializers.ModelSerializer):
            schema["required"] = sorted(schema.get("properties", {}))
        return schema


class ErrorSerializer(serializers.Serializer[Any]):
    """DRF's body for permission, not-found, throttling and single-message errors."""

    detail = serializers.CharField()


class ConflictSerializer(serializers.Serializer[Any]):
    """409: the object is in use; ``runs`` (and for datastores ``versions``) say by what."""

    detail = serializers.CharField()
    runs = serializers.ListField(child=serializers.IntegerField(), required=False)
    versions = serializers.ListField(child=serializers.CharField(), required=False)


# A validation error names each bad field with its messages ({"field": ["..."]}; nested
# objects nest). No component: its keys are the request's own fields.
VALIDATION_ERROR = OpenApiResponse(
    response={
        "type": "object",
        "additionalProperties": {},
        "description": "Each bad field with its messages, e.g. {'name': ['This field is required.']}.",
    },
    description="Bad input, by field.",
)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such object (or not visible to you).")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Not allowed.")
CONFLICT = OpenApiResponse(ConflictSerializer, description="In use.")


class KeyedSerializer(serializers.Serializer[Any]):
    """Documents an object whose keys are names and whose values are ``values`` (a list of
    them when ``as_list``), e.g. a run's metrics grouped by metric name. Schema only."""

    values: ClassVar[type[serializers.Serializer[Any]]]
    as_list: ClassVar[bool] = False


class KeyedSerializerExtension(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    target_class = KeyedSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        keyed: type[KeyedSerializer] = self.target if isinstance(self.target, type) else type(self.target)
        ref = auto_schema.resolve_serializer(keyed.values, direction).ref
        value = {"type": "array", "items": ref} if keyed.as_list else ref
        return {"type": "object", "additionalProperties": value, "description": keyed.__doc__ or ""}


def documented_json(schema: Any, **kwargs: Any) -> serializers.JSONField:
    """A JSONField (output unchanged) whose schema is ``schema`` instead of "any value":
    a raw JSON schema, a serializer, or a PolymorphicProxySerializer."""
    field_class = extend_schema_field(schema)(type("DocumentedJSONField", (serializers.JSONField,), {}))
    return field_class(**kwargs)  # type: ignore[no-any-return]


STRING_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
STRING_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
