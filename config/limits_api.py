"""GET /api/limits/: the upload limits, so the web app refuses an oversized upload before
sending it (and shows the limit in MB/GB) instead of after the whole upload."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from datasets.conf import archive_limits
from runs.snapshots import limits as snapshot_limits


class LimitsSerializer(serializers.Serializer[Any]):
    snapshot_max_bytes = serializers.IntegerField(help_text="A run's source snapshot, packed.")
    snapshot_max_files = serializers.IntegerField()
    dataset_max_bytes = serializers.IntegerField(help_text="A dataset upload, all files together.")
    dataset_max_files = serializers.IntegerField()


class LimitsView(APIView):
    @extend_schema(responses=LimitsSerializer)
    def get(self, request: Request) -> Response:
        snapshot, dataset = snapshot_limits(), archive_limits()
        return Response(
            {
                "snapshot_max_bytes": snapshot.max_bytes,
                "snapshot_max_files": snapshot.max_entries,
                "dataset_max_bytes": dataset.max_bytes,
                "dataset_max_files": dataset.max_entries,
            }
        )
