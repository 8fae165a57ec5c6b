"""Response shapes of the datasets API that no model serializer gives (datastore
listings and uploads)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class DatastoreEntrySerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    path = serializers.CharField(help_text="Relative to the datastore's root.")
    type = serializers.ChoiceField(choices=["file", "dir"])
    size = serializers.IntegerField(allow_null=True, help_text="Bytes; null for folders.")


class DatastoreListingSerializer(serializers.Serializer[Any]):
    datastore = serializers.CharField()
    path = serializers.CharField(allow_blank=True)
    entries = DatastoreEntrySerializer(many=True)
    truncated = serializers.BooleanField(help_text="More entries than one listing returns.")


class DatastoreUploadedSerializer(serializers.Serializer[Any]):
    uploaded = serializers.ListField(child=serializers.CharField(), help_text="Paths written.")


class UploadConflictSerializer(serializers.Serializer[Any]):
    """409: a file exists and ``overwrite`` was not set."""

    detail = serializers.CharField()
    overwrite = serializers.ListField(child=serializers.CharField())
