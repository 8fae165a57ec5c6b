"""Compute targets: readable by everyone signed in, managed by admins."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from rest_framework import serializers, viewsets

from accounts.permissions import SIGNED_IN, AdminWriteOrReadOnly
from audit.mixins import AuditedViewSetMixin
from audit.services import mask
from compute.models import ComputeTarget
from runs.status import ACTIVE, Status


class ComputeTargetSerializer(serializers.ModelSerializer[ComputeTarget]):
    queue = serializers.CharField(read_only=True)
    running_runs = serializers.IntegerField(read_only=True)
    queued_runs = serializers.IntegerField(read_only=True)
    can_run = serializers.SerializerMethodField()

    class Meta:
        model = ComputeTarget
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "max_concurrent_runs",
            "max_nodes",
            "max_processes_per_node",
            "config",
            "enabled",
            "queue",
            "running_runs",
            "queued_runs",
            "can_run",
            "created_at",
        ]
        extra_kwargs = {
            "kind": {"required": False, "help_text": "Default: the server's RUNYARD_CLUSTER_KIND (and its config)."}
        }

    def get_can_run(self, target: ComputeTarget) -> list[str]:
        kinds = ["single", "pytorch", "mpi", "tensorflow"]
        if target.max_nodes > 1:
            kinds.append("multi-node")
        return kinds

    def to_representation(self, instance: ComputeTarget) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["config"] = mask(data.get("config") or {})
        return data

    def to_internal_value(self, data: Any) -> Any:
        if self.instance is None and isinstance(data, dict) and "kind" not in data:
            # Created without a kind (the SDK's AmlCompute): the server's cluster kind and config.
            # Azure's max_nodes is how many single-node jobs the cluster runs at once; a local
            # target has one node, so there it is the number of concurrent runs.
            cluster = settings.RUNYARD
            data = {"config": cluster["CLUSTER_CONFIG"], **data, "kind": cluster["CLUSTER_KIND"]}
            if data["kind"] == ComputeTarget.Kind.LOCAL:
                data["max_nodes"] = 1
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        target = ComputeTarget(
            **{
                **(
                    {}
                    if self.instance is None
                    else {f.name: getattr(self.instance, f.name) for f in ComputeTarget._meta.fields}
                ),
                **attrs,
            }
        )
        target.clean()
        if not isinstance(attrs.get("config", {}), dict):
            raise serializers.ValidationError({"config": ["Must be an object."]})
        return attrs


class ComputeTargetViewSet(AuditedViewSetMixin, viewsets.ModelViewSet[ComputeTarget]):
    serializer_class = ComputeTargetSerializer
    permission_classes = [*SIGNED_IN, AdminWriteOrReadOnly]
    filterset_fields = ["kind", "enabled", "name"]
    search_fields = ["name", "description"]

    def get_queryset(self) -> Any:
        return ComputeTarget.objects.annotate(
            running_runs=Count("runs", filter=Q(runs__status__in=ACTIVE)),
            queued_runs=Count("runs", filter=Q(runs__status=Status.QUEUED)),
        ).order_by("name")
