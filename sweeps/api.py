"""Sweeps: create from a run's submission plus HyperDriveConfig's fields, list children,
best child, the primary metric of every child, cancel (cascades to the children)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import SIGNED_IN, scope_to_teams
from config.api import body
from config.responses import NOT_FOUND, VALIDATION_ERROR
from runs.api import submission_from
from runs.submission import earlier_submit, idempotency_key
from sweeps import controller, services
from sweeps.models import Sweep
from sweeps.serializers import (
    ChildSerializer,
    ChildSeriesSerializer,
    SweepCancelSerializer,
    SweepListSerializer,
    SweepSerializer,
    SweepSubmitSerializer,
    child_data,
    sweep_data,
    sweep_list_data,
)

# The primary key is the parent run (a one-to-one "run" field): say its type for the schema.
SWEEP_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The sweep's run id")


@extend_schema_view(
    retrieve=extend_schema(parameters=[SWEEP_ID]),
    children=extend_schema(parameters=[SWEEP_ID]),
    best=extend_schema(parameters=[SWEEP_ID]),
    metrics=extend_schema(parameters=[SWEEP_ID]),
    cancel=extend_schema(parameters=[SWEEP_ID]),
)
class SweepViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Sweep]):
    """A sweep's id is its parent run's id (``/api/runs/{id}/`` is the same run)."""

    permission_classes = SIGNED_IN
    parser_classes = [parsers.MultiPartParser, parsers.FormParser, parsers.JSONParser]
    serializer_class = SweepSerializer
    pagination_class = None  # a short list: the newest 200

    def get_queryset(self) -> Any:
        sweeps = Sweep.objects.select_related(
            "run__experiment", "run__team", "run__submitted_by", "environment_version__environment", "compute_target"
        ).order_by("-created_at", "-run_id")
        # Team scoping on the parent run: others' sweeps answer 404, as their runs do.
        return scope_to_teams(self.request, sweeps, field="run__team")

    def _detail(self, sweep: Sweep) -> dict[str, Any]:
        rows = services.children(sweep)
        return sweep_data(sweep, rows, services.best(sweep, rows))

    @extend_schema(responses=SweepListSerializer(many=True))
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The newest sweeps first (at most 200)."""
        return Response([sweep_list_data(s) for s in self.get_queryset()[:200]])

    @extend_schema(responses={200: SweepSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._detail(self.get_object()))

    @extend_schema(request=SweepSubmitSerializer, responses={201: SweepSerializer, 400: VALIDATION_ERROR})
    def create(self, request: Request) -> Response:
        """Multipart like ``POST /api/runs/`` (or JSON with ``resubmit_of`` to reuse a run's
        snapshot) plus ``hyperdrive``: the sampling, policy, primary metric and limits."""
        key = idempotency_key(request)
        replay = earlier_submit(request.user, key)
        if replay is not None and Sweep.objects.filter(pk=replay.pk).exists():
            return Response(self._detail(Sweep.objects.get(pk=replay.pk)), headers={"Idempotent-Replayed": "true"})
        incoming = SweepSubmitSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        sub = submission_from(request, data, key)
        if data.get("hyperdrive") is None:
            raise serializers.ValidationError({"hyperdrive": ["Give the sweep's HyperDriveConfig fields."]})
        parent = services.create(sub, data["hyperdrive"])
        return Response(self._detail(self.get_queryset().get(pk=parent.pk)), status=status.HTTP_201_CREATED)

    @extend_schema(responses=ChildSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None)
    def children(self, request: Request, pk: str | None = None) -> Response:
        """Every child in proposal order: parameters, primary metric (best, last), status, termination."""
        return Response([child_data(r) for r in services.children(self.get_object())])

    @extend_schema(
        responses={200: ChildSerializer, 204: OpenApiResponse(description="No child logged the primary metric yet")},
        filters=False,
    )
    @action(detail=True, methods=["get"])
    def best(self, request: Request, pk: str | None = None) -> Response:
        """The child with the best primary metric (Azure's get_best_run_by_primary_metric)."""
        row = services.best(self.get_object())
        if row is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(child_data(row))

    @extend_schema(responses=ChildSeriesSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None)
    def metrics(self, request: Request, pk: str | None = None) -> Response:
        """The primary metric of every child, point by point (the overlay chart)."""
        series = services.primary_series(self.get_object())
        return Response([{"run": run_id, "points": points} for run_id, points in series.items()])

    @extend_schema(request=SweepCancelSerializer, responses={200: SweepSerializer, 400: VALIDATION_ERROR})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel the sweep and every child still queued or running."""
        sweep = self.get_object()
        incoming = SweepCancelSerializer(data=body(request))
        incoming.is_valid(raise_exception=True)
        controller.cancel(sweep, request.user, reason=incoming.validated_data.get("reason", ""))
        return Response(self._detail(self.get_queryset().get(pk=sweep.pk)))
