"""Compute targets: readable by everyone signed in, managed by admins."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import SIGNED_IN, AdminWriteOrReadOnly
from audit.mixins import AuditedViewSetMixin
from audit.services import mask
from compute import capabilities, checks
from compute.models import ComputeTarget
from execution import sandbox
from runs import policy
from runs.status import ACTIVE, Status


class IsolationSerializer(serializers.Serializer[Any]):
    sandboxed = serializers.BooleanField()
    summary = serializers.CharField()


class ComputeTargetSerializer(serializers.ModelSerializer[ComputeTarget]):
    queue = serializers.CharField(read_only=True)
    running_runs = serializers.IntegerField(read_only=True)
    queued_runs = serializers.IntegerField(read_only=True)
    can_run = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    isolation = serializers.SerializerMethodField()

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
            "failure_policy",
            "enabled",
            "queue",
            "running_runs",
            "queued_runs",
            "can_run",
            "warnings",
            "isolation",
            "created_at",
        ]
        extra_kwargs = {
            "max_nodes": {
                "help_text": "Default: "
                + ", ".join(f"{n} for {kind}" for kind, n in capabilities.DEFAULT_MAX_NODES.items())
                + "."
            },
            "kind": {"required": False, "help_text": "Default: the server's RUNYARD_CLUSTER_KIND (and its config)."},
            "failure_policy": {
                "help_text": 'Default retries per cause and hang watchdog for runs here, e.g. {"max_retries": '
                '{"node_lost": 3}, "hang_timeout_seconds": 600}; a run\'s and its environment\'s keys win.'
            },
        }

    def get_can_run(self, target: ComputeTarget) -> list[str]:
        return capabilities.can_run(target)

    def get_warnings(self, target: ComputeTarget) -> list[str]:
        """Unknown config keys (ignored by the backends), and the errors of a config saved unvalidated."""
        return target.config_warnings

    @extend_schema_field(IsolationSerializer(allow_null=True))
    def get_isolation(self, target: ComputeTarget) -> dict[str, Any] | None:
        """For ``local``: whether run scripts are sandboxed (as this server sees it);
        other kinds isolate runs in containers or cluster jobs (see the README)."""
        if target.kind != "local":
            return None
        status = sandbox.status()
        return {"sandboxed": status.sandboxed, "summary": status.describe()}

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

    def validate_failure_policy(self, value: Any) -> dict[str, Any]:
        return policy.parse(value).as_json()  # InvalidInput names the key

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance = self.instance
        current = {} if instance is None else {f.name: getattr(instance, f.name) for f in ComputeTarget._meta.fields}
        target = ComputeTarget(**{**current, **attrs})
        problems, config_error = target.problems()
        errors: dict[str, Any] = dict(problems)
        if config_error is not None:
            errors["config"] = config_error.detail()
        if errors:
            raise serializers.ValidationError(errors)
        attrs["max_nodes"] = target.max_nodes  # the kind's default when none was given
        return attrs


class ConnectionCheckSerializer(serializers.Serializer[checks.Check]):
    name = serializers.CharField()
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ConnectionTestSerializer(serializers.Serializer[checks.Result]):
    ok = serializers.BooleanField(help_text="True when every check passed.")
    checks = ConnectionCheckSerializer(many=True)


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

    @extend_schema(
        request=None,
        responses={200: ConnectionTestSerializer},
        description=(
            "Admins: check from the server that the target is reachable (local: sandbox and uv; "
            "docker: engine ping and version; slurm: SLURM_CONF, shared_dir, sinfo, sbatch --test-only)."
        ),
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        result = checks.test_connection(self.get_object())
        return Response(ConnectionTestSerializer(result).data)
