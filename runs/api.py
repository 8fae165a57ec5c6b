"""Experiments and runs: submit, list, watch, cancel, logs, metrics, artifacts."""

from __future__ import annotations

import re
from typing import Any

import django_filters
from django.db import transaction
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, mixins, parsers, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from accounts.authentication import RunScope
from accounts.permissions import SIGNED_IN, TeamObjectPermission, default_team, scope_to_teams
from audit.mixins import AuditedViewSetMixin
from audit.services import record
from common.archives import UnsafeArchive
from common.errors import InvalidInput
from config.api import NewestFirstCursorPagination, body
from config.filtering import AskedFiltersBackend
from config.pagination import int_param
from config.responses import NOT_FOUND, VALIDATION_ERROR
from environments.api import EnvironmentSerializer, EnvironmentVersionSerializer
from notifications.serializers import AlertSerializer
from runs import (
    artifacts,
    attempts,
    cancellation,
    editing,
    interactive,
    logstore,
    metricbatch,
    metricstore,
    snapshots,
    workbench,
)
from runs.artifact_zip import zip_response
from runs.causes import Cause
from runs.diagnosis import DiagnosisSerializer, diagnose
from runs.models import Experiment, Run, RunField, RunInput, RunProcess, RunStatusChange
from runs.serializers import (
    RUN_LIST_COLUMNS,
    ArtifactSerializer,
    ArtifactStoredSerializer,
    ArtifactUploadSerializer,
    AttemptSerializer,
    CancelSerializer,
    CompleteSerializer,
    ExperimentSerializer,
    LogPageSerializer,
    MetricPointSerializer,
    MetricSeriesSerializer,
    MetricsStoredSerializer,
    PrioritySerializer,
    RunDetailSerializer,
    RunEnvironmentSerializer,
    RunInputSerializer,
    RunListSerializer,
    RunProcessSerializer,
    RunPropertiesSerializer,
    RunTagsSerializer,
    RunTagsUpdateSerializer,
    SnapshotUploadSerializer,
    StartLoggingSerializer,
    StatusChangeSerializer,
    SubmitSerializer,
    list_rows,
    run_list_data,
)
from runs.status import Status
from runs.submission import Submission, earlier_submit, idempotency_key, submit
from scheduling import priority, quotas

SNAPSHOT_ID = re.compile(r"^[0-9a-f]{64}$")


class ExperimentViewSet(AuditedViewSetMixin, viewsets.ModelViewSet[Experiment]):
    serializer_class = ExperimentSerializer
    permission_classes = [*SIGNED_IN, TeamObjectPermission]
    filterset_fields = ["name"]
    search_fields = ["name", "description"]

    def get_queryset(self) -> Any:
        return scope_to_teams(self.request, Experiment.objects.select_related("team")).order_by("name")

    def perform_create(self, serializer: Any) -> None:
        serializer.validated_data["created_by"] = self.request.user
        super().perform_create(serializer)

    @transaction.atomic
    def perform_update(self, serializer: Any) -> None:
        super().perform_update(serializer)
        # An experiment's runs are in its team: an admin's move takes them along.
        experiment = serializer.instance
        Run.objects.filter(experiment=experiment).exclude(team=experiment.team).update(team=experiment.team)


class RunFilter(django_filters.FilterSet):
    # status=A&status=B is one IN on a column of the run: no duplicates to remove, and DISTINCT
    # would make the database sort every matching run before the page's LIMIT.
    status = django_filters.MultipleChoiceFilter(choices=Status.choices, distinct=False)
    cause = django_filters.MultipleChoiceFilter(choices=Cause.choices, distinct=False, help_text="why it ended")
    experiment = django_filters.CharFilter(method="filter_experiment")
    compute_target = django_filters.CharFilter(field_name="compute_target__name")
    submitted_by = django_filters.CharFilter(field_name="submitted_by__username")
    environment = django_filters.CharFilter(field_name="environment_version__environment__name")
    tag = django_filters.CharFilter(method="filter_tag", help_text="key or key=value (repeat for several)")
    property = django_filters.CharFilter(method="filter_property", help_text="key or key=value (repeat for several)")
    parent = django_filters.NumberFilter(field_name="parent_id", help_text="child runs of this run")
    q = django_filters.CharFilter(method="filter_text", help_text="free text: name, script, experiment, id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    # The workbench (runs.workbench): comparisons on metric summaries and parameters, repeatable.
    metric = django_filters.CharFilter(
        method="filter_metric", help_text="NAME>VALUE on the latest value (> >= < <= = !=)"
    )
    metric_min = django_filters.CharFilter(method="filter_metric", help_text="NAME<VALUE on the lowest value")
    metric_max = django_filters.CharFilter(method="filter_metric", help_text="NAME>VALUE on the highest value")
    param = django_filters.CharFilter(method="filter_param", help_text="KEY, KEY=VALUE or KEY>NUMBER (repeatable)")
    archived = django_filters.CharFilter(
        method="filter_archived", help_text="true: archived runs only (hidden by default)"
    )

    class Meta:
        model = Run
        fields = ["status", "experiment", "compute_target", "submitted_by", "environment"]

    def filter_archived(self, queryset: Any, name: str, value: str) -> Any:
        wanted = {"true": True, "1": True, "false": False, "0": False}.get(value.lower())
        if wanted is None:
            raise serializers.ValidationError({"archived": ["Must be true or false."]})
        return queryset.filter(archived_at__isnull=not wanted)

    def _all(self, name: str, value: str) -> list[str]:
        return self.data.getlist(name) if hasattr(self.data, "getlist") else [value]

    def filter_metric(self, queryset: Any, name: str, value: str) -> Any:
        for item in self._all(name, value):
            queryset = queryset.filter(workbench.metric_condition(name, item))
        return queryset

    def filter_param(self, queryset: Any, name: str, value: str) -> Any:
        for item in self._all(name, value):
            queryset = queryset.filter(workbench.field_condition(name, RunField.Kind.PARAM, item))
        return queryset

    def filter_experiment(self, queryset: Any, name: str, value: str) -> Any:
        # By id, not by a join on the name: then the run_experiment_created index gives the
        # page directly, where SQLite would walk the team's runs newest first looking for them.
        experiments = Experiment.objects.filter(name=value)
        if self.request is not None:
            experiments = scope_to_teams(self.request, experiments)
        return queryset.filter(experiment_id__in=list(experiments.values_list("pk", flat=True)))

    def filter_tag(self, queryset: Any, name: str, value: str) -> Any:
        wanted = self.data.getlist(name) if hasattr(self.data, "getlist") else [value]
        for index, item in enumerate(wanted):
            key, sep, val = item.partition("=")
            if sep:
                # Not tags__contains: SQLite has no JSON containment. KeyTransform takes the
                # key as one literal key (a "__" in it is not a lookup path).
                queryset = queryset.alias(**{f"tag_{index}": KeyTransform(key, "tags")})
                queryset = queryset.filter(**{f"tag_{index}": val})
            else:
                queryset = queryset.filter(tags__has_key=key)
        return queryset

    def filter_property(self, queryset: Any, name: str, value: str) -> Any:
        wanted = self.data.getlist(name) if hasattr(self.data, "getlist") else [value]
        for index, item in enumerate(wanted):
            key, sep, val = item.partition("=")
            if not sep:
                queryset = queryset.filter(properties__has_key=key)
                continue
            # As filter_tag: KeyTransform takes the key literally, and SQLite has no containment.
            queryset = queryset.alias(**{f"property_{index}": KeyTransform(key, "properties")})
            queryset = queryset.filter(**{f"property_{index}": val})
        return queryset

    def filter_text(self, queryset: Any, name: str, value: str) -> Any:
        text = value.strip()
        query = Q(display_name__icontains=text) | Q(script__icontains=text) | Q(experiment__name__icontains=text)
        if text.isascii() and text.isdigit():  # not "²", which isdigit() but int() refuses
            query |= Q(pk=int(text))
        return queryset.filter(query)


class RunPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> tuple[str, ...]:
        wanted = request.query_params.get("ordering", "")
        allowed = {"created_at": ("created_at", "id"), "-created_at": ("-created_at", "-id")}
        return allowed.get(wanted, self.ordering)


def take_snapshot(run: Run, request: Request) -> Run:
    """Store an uploaded archive as an interactive run's snapshot (checked as a submit's is)."""
    if not run.interactive:
        raise serializers.ValidationError(
            {"snapshot": [f"Run {run.pk} was submitted: its snapshot is the code it ran and cannot change."]}
        )
    upload = request.FILES.get("snapshot")
    if upload is None:
        raise serializers.ValidationError({"snapshot": ["This field is required."]})
    try:
        stored = snapshots.store(upload)
    except UnsafeArchive as exc:
        raise serializers.ValidationError({exc.field: [str(exc)]}) from None
    Run.objects.filter(pk=run.pk).update(
        snapshot_sha256=stored.sha256, snapshot_size=stored.size, snapshot_files=len(stored.files)
    )
    record("runs.run.snapshot_taken", actor=request.user, obj=run, changes={"snapshot": stored.sha256})
    run.refresh_from_db()
    return run


ORDERING_HELP = (
    "created_at or -created_at (default); or -metrics.NAME (latest value), metrics_min.NAME, metrics_max.NAME, "
    "params.KEY, tags.KEY, properties.KEY: runs without the value come last."
)


class RunPermission(permissions.BasePermission):
    """Users act on their teams' runs; a run token on its own run and the child runs under it."""

    def has_object_permission(self, request: Request, view: Any, obj: Run) -> bool:
        if isinstance(request.auth, RunScope):
            return obj.pk == request.auth.run_id or request.auth.run_id in interactive.ancestors(obj)
        return TeamObjectPermission().has_object_permission(request, view, obj)


def run_and_descendants(run_id: int) -> set[int]:
    """The run and every run under it (what its run token may see), level by level."""
    found = {run_id}
    level = [run_id]
    for _depth in range(interactive.MAX_DEPTH):
        level = list(Run.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        if not level:
            break
        found.update(level)
    return found


def submission_from(request: Request, data: dict[str, Any], key: str) -> Submission:
    """A Submission from SubmitSerializer's validated data; ``resubmit_of`` fills what is not given."""
    resubmit = None
    if data.get("resubmit_of"):
        resubmit = scope_to_teams(request, Run.objects.all()).filter(pk=data["resubmit_of"]).first()
        if resubmit is None:
            raise serializers.ValidationError({"resubmit_of": ["No such run in your teams."]})
        if resubmit.interactive or resubmit.compute_target_id is None:
            kind = "interactive" if resubmit.interactive else "a sweep (resubmit one of its children)"
            raise serializers.ValidationError(
                {"resubmit_of": [f"Run {resubmit.pk} is {kind}: it has no script to run again by itself."]}
            )
    team = default_team(request, data.get("team"))
    base = resubmit
    return Submission(
        team=team,
        user=request.user,
        experiment=data.get("experiment") or (base.experiment.name if base else "default"),
        script=data.get("script", base.script if base else ""),
        command=data.get("command") or (base.command if base else []),
        arguments=data["arguments"] if "arguments" in data else (base.arguments if base else []),
        environment=data.get("environment") or (base.environment_version.environment.name if base else ""),
        environment_version=data.get("environment_version")
        or (base.environment_version.version if base and not data.get("environment") else None),
        compute_target=data.get("compute_target") or (base.compute_target.name if base else "local"),
        distributed=data["distributed"] if "distributed" in data else (base.distributed if base else None),
        tags=data["tags"] if "tags" in data else (base.tags if base else {}),
        max_run_duration_seconds=data.get("max_run_duration_seconds")
        or (base.max_run_duration_seconds if base else None),
        display_name=data.get("display_name", ""),
        snapshot=data.get("snapshot"),
        resubmit_of=resubmit,
        inputs=data.get("inputs") or [],
        idempotency_key=key,
        priority=priority.parse(data["priority"]) if data.get("priority") else None,
        preemptible=data["preemptible"]
        if data.get("preemptible") is not None
        else (base.preemptible if base else None),
        failure_policy=data["failure_policy"] if "failure_policy" in data else (base.failure_policy if base else None),
    )


class RunViewSet(
    mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Run]
):
    """Submit with multipart (``snapshot`` file + fields, JSON-encoded where structured)."""

    permission_classes = [*SIGNED_IN, RunPermission]
    pagination_class = RunPagination
    filterset_class = RunFilter
    # RunFilter's ~20 filters, built only when the request names them (config.filtering).
    filter_backends: list[Any] = [
        AskedFiltersBackend if backend is DjangoFilterBackend else backend
        for backend in api_settings.DEFAULT_FILTER_BACKENDS
    ]
    parser_classes = [parsers.MultiPartParser, parsers.FormParser, parsers.JSONParser]

    def list_queryset(self) -> Any:
        """The visible runs for ``list``: no joins (``list_names`` reads the names a row shows)."""
        runs = list_rows()
        if isinstance(self.request.auth, RunScope):
            return runs.filter(pk__in=run_and_descendants(self.request.auth.run_id))
        return scope_to_teams(self.request, runs)

    def get_queryset(self) -> Any:
        runs = Run.objects.select_related(
            "experiment", "compute_target", "submitted_by", "environment_version__environment"
        )
        if isinstance(self.request.auth, RunScope):
            return runs.filter(pk__in=run_and_descendants(self.request.auth.run_id))
        return scope_to_teams(self.request, runs)

    @extend_schema(parameters=[OpenApiParameter("ordering", str, description=ORDERING_HELP)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Runs newest first (``?ordering=created_at`` for oldest first, or by a metric, parameter,
        tag or property: see runs.workbench), filtered; cursor pages. Archived runs are hidden
        unless ``?archived=true``."""
        key = workbench.parse_ordering(request.query_params.get("ordering", ""))
        filtered = self.filter_queryset(self.list_queryset())
        if not request.query_params.get("archived"):  # the list only: an archived run's page still opens
            filtered = filtered.filter(archived_at__isnull=True)
        if key is not None:
            sorted_page = workbench.sorted_page(filtered, key, RUN_LIST_COLUMNS, request)
            return Response(
                {"next": sorted_page.next, "previous": sorted_page.previous, "results": run_list_data(sorted_page.rows)}
            )
        # Plain rows instead of RunListSerializer over model instances (same output, which the
        # schema still describes through get_serializer_class): see run_list_data.
        runs = filtered.values(*RUN_LIST_COLUMNS)
        page = self.paginate_queryset(runs)
        if page is None:
            return Response(run_list_data(list(runs)))
        return self.get_paginated_response(run_list_data(page))

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        if self.action == "create":
            return SubmitSerializer
        if self.action == "list":
            return RunListSerializer
        return RunDetailSerializer

    @extend_schema(request=SubmitSerializer, responses={201: RunDetailSerializer, 400: VALIDATION_ERROR})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = idempotency_key(request)
        replay = earlier_submit(request.user, key)
        if replay is not None:
            # A retried POST (the first answer was lost): the run it created, not a new one.
            data = RunDetailSerializer(replay, context={"request": request}).data
            return Response(data, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"})
        incoming = SubmitSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        run = submit(submission_from(request, incoming.validated_data, key))
        context = {"request": request, "just_queued": run.pk}
        return Response(RunDetailSerializer(run, context=context).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=StartLoggingSerializer, responses={201: RunDetailSerializer, 400: VALIDATION_ERROR})
    @action(detail=False, methods=["post"], url_path="start-logging")
    def start_logging(self, request: Request) -> Response:
        """An interactive run, created Running: the client logs to it and ends it (``complete``).
        With ``parent``, a child run of that run (its experiment and team)."""
        incoming = StartLoggingSerializer(data=body(request), context={"request": request})
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        parent = None
        if data.get("parent") is not None:
            parent = self.get_queryset().filter(pk=data["parent"]).first()
            if parent is None:
                raise serializers.ValidationError({"parent": ["No such run in your teams."]})
        elif isinstance(request.auth, RunScope):
            raise serializers.ValidationError({"parent": ["A run token creates child runs of its run only."]})
        run = interactive.start(
            team=parent.team if parent else default_team(request, data.get("team")),
            user=request.user,
            experiment=parent.experiment.name if parent else data.get("experiment") or "default",
            parent=parent,
            display_name=data.get("display_name", ""),
            tags=data.get("tags"),
            properties=data.get("properties"),
        )
        return Response(RunDetailSerializer(run, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CompleteSerializer, responses={200: RunDetailSerializer, 400: VALIDATION_ERROR})
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str | None = None) -> Response:
        """End an interactive run: ``Completed`` (``run.complete()``) or ``Failed`` with ``error`` (``run.fail()``)."""
        run = self.get_object()
        incoming = CompleteSerializer(data=body(request))
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        run = interactive.finish(run, status=data["status"], error=data.get("error", ""), user=request.user)
        return Response(RunDetailSerializer(run, context={"request": request}).data)

    @extend_schema(request=RunPropertiesSerializer, responses={200: RunPropertiesSerializer, 400: VALIDATION_ERROR})
    @action(detail=True, methods=["post"])
    def properties(self, request: Request, pk: str | None = None) -> Response:
        """Add ``{"properties": {...}}`` (Azure's add_properties): new keys only; a set key keeps its value."""
        run = self.get_object()
        return Response({"properties": interactive.add_properties(run, body(request).get("properties"))})

    @extend_schema(request=PrioritySerializer, responses={200: RunDetailSerializer, 400: VALIDATION_ERROR})
    @action(detail=True, methods=["post"], url_path="priority")
    def set_priority(self, request: Request, pk: str | None = None) -> Response:
        """Change a Queued run's priority (``{"priority": "high"}``), up to its team's cap on the target."""
        run = self.get_object()
        incoming = PrioritySerializer(data=body(request))
        incoming.is_valid(raise_exception=True)
        run = quotas.set_priority(run, priority.parse(incoming.validated_data["priority"]), request.user)
        return Response(RunDetailSerializer(run, context={"request": request}).data)

    @extend_schema(request=CancelSerializer, responses=RunDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Ask for the run to stop: SIGTERM to every rank, a grace period, then SIGKILL."""
        run = self.get_object()
        run = cancellation.request_cancel(run, request.user, reason=str(body(request).get("reason", "")))
        return Response(RunDetailSerializer(run, context={"request": request}).data)

    @extend_schema(responses=StatusChangeSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], url_path="status-history", pagination_class=None)
    def status_history(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        rows = RunStatusChange.objects.filter(run=run).select_related("actor").order_by("at", "id")
        return Response(
            [
                {
                    "at": r.at,
                    "from": r.from_status,
                    "to": r.to_status,
                    "reason": r.reason,
                    "actor": r.actor.get_username() if r.actor else None,
                }
                for r in rows
            ]
        )

    @extend_schema(responses={200: RunEnvironmentSerializer, 404: NOT_FOUND}, filters=False)
    @action(detail=True, methods=["get"], url_path="environment", pagination_class=None)
    def environment(self, request: Request, pk: str | None = None) -> Response:
        """The environment and the exact version the run used (``run.get_environment()``,
        which a script may call with its run token: the run's own spec, secrets masked)."""
        run = self.get_object()
        version = run.environment_version
        if version is None:
            raise exceptions.NotFound(f"Run {run.pk} has no environment: it is an interactive run or a sweep.")
        return Response(
            {
                "environment": EnvironmentSerializer(version.environment, context={"request": request}).data,
                "version": EnvironmentVersionSerializer(version, context={"request": request}).data,
            }
        )

    @extend_schema(request=AlertSerializer, responses={202: None, 400: VALIDATION_ERROR}, filters=False)
    @action(detail=True, methods=["post"])
    def alert(self, request: Request, pk: str | None = None) -> Response:
        """``run.alert(title, text, level)``: tell the run's subscribers (notifications)."""
        from notifications.services import queue_alert

        run = self.get_object()
        incoming = AlertSerializer(data=body(request))
        incoming.is_valid(raise_exception=True)
        queue_alert(run.pk, incoming.validated_data)
        return Response(status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=AttemptSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None)
    def attempts(self, request: Request, pk: str | None = None) -> Response:
        """The run's attempts, oldest first: a retry is the next attempt of the same run."""
        return Response(AttemptSerializer(attempts.listing(self.get_object()), many=True).data)

    @extend_schema(responses=RunProcessSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None)
    def processes(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        return Response(
            [
                {
                    "rank": p.rank,
                    "node_rank": p.node_rank,
                    "local_rank": p.local_rank,
                    "role": p.role,
                    "host": p.host,
                    "pid": p.pid,
                    "status": p.status,
                    "exit_code": p.exit_code,
                    "started_at": p.started_at,
                    "ended_at": p.ended_at,
                }
                for p in RunProcess.objects.filter(run=run).order_by("rank")
            ]
        )

    @extend_schema(responses=RunInputSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], pagination_class=None)
    def inputs(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        return Response(
            [
                {
                    "name": i.name,
                    "mode": i.mode,
                    "local_path": i.local_path,
                    "dataset": i.dataset_version.dataset.name if i.dataset_version else None,
                    "version": (
                        i.dataset_version.version
                        if i.dataset_version
                        else i.model_version.version
                        if i.model_version
                        else None
                    ),
                    "datastore": i.datastore.name if i.datastore else None,
                    "datastore_path": i.datastore_path,
                    "files": i.files,
                    "urls": [url for _path, url in i.urls] if i.urls is not None else None,
                    "model": i.model_version.model.name if i.model_version else None,
                }
                for i in RunInput.objects.filter(run=run).select_related(
                    "dataset_version__dataset", "datastore", "model_version__model"
                )
            ]
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("after", int),
            OpenApiParameter("rank", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("attempt", int, description="only this attempt's lines (see attempts)"),
        ],
        responses={200: LogPageSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"])
    def logs(self, request: Request, pk: str | None = None) -> Response:
        """Stored log lines with seq > ``after``, optionally of one rank or attempt, at most ``limit``."""
        run = self.get_object()
        after = int_param(request, "after", 0)
        limit = min(int_param(request, "limit", 1000), 10000)
        rank_raw = request.query_params.get("rank")
        rank = None if rank_raw in (None, "") else int_param(request, "rank", 0, minimum=None)
        last: int | None = None
        if request.query_params.get("attempt") not in (None, ""):
            bounds = attempts.seq_range(run, int_param(request, "attempt", 1, minimum=1))
            if bounds is None:
                raise InvalidInput({"attempt": [f"Run {run.pk} has no such attempt."]})
            after, last = max(after, bounds[0] - 1), bounds[1]
        lines = logstore.page(run.pk, after=after, rank=rank, limit=limit)
        if last is not None:
            lines = [line for line in lines if line["seq"] <= last]
        return Response(
            {
                "run": run.pk,
                "status": run.status,
                "last_seq": run.log_seq,
                "lines": lines,
                "next_after": lines[-1]["seq"] if lines else after,
            }
        )

    @extend_schema(responses={200: DiagnosisSerializer, 404: NOT_FOUND})
    @action(detail=True, methods=["get"], pagination_class=None)
    def diagnosis(self, request: Request, pk: str | None = None) -> Response:
        """The error excerpt of a (failed) run: exception type and message of the failing
        rank's last traceback, its last stderr lines, and the seqs to open the log at."""
        return Response(DiagnosisSerializer(diagnose(self.get_object())).data)

    @extend_schema(request=editing.RunEditSerializer, responses={200: RunDetailSerializer, 400: VALIDATION_ERROR})
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        """Edit a run's display name, description or tags (tags replace); audited."""
        run = self.get_object()
        incoming = editing.RunEditSerializer(data=body(request))
        incoming.is_valid(raise_exception=True)
        run = editing.edit(run, dict(incoming.validated_data), request.user)
        return Response(RunDetailSerializer(run, context={"request": request}).data)

    @extend_schema(
        parameters=[OpenApiParameter("rank", int, description="one rank's lines as printed (-1: Runyard's own)")],
        responses={(200, "text/plain"): OpenApiTypes.STR, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get"], url_path="logs/download")
    def logs_download(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        """The whole log, each line marked with its rank; ``?rank=N``: that rank's lines only."""
        run = self.get_object()
        rank_raw = request.query_params.get("rank")
        rank = None if rank_raw in (None, "") else int_param(request, "rank", 0, minimum=-1)
        lines = logstore.iter_text(run.pk, rank=rank)
        response = StreamingHttpResponse(lines, content_type="text/plain; charset=utf-8")
        name = f"run-{run.pk}.log" if rank is None else f"run-{run.pk}-rank-{rank}.log"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @extend_schema(
        methods=["GET"],
        parameters=[
            OpenApiParameter("snapshot_id", str, description="another snapshot of your runs (default: this run's)")
        ],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 400: VALIDATION_ERROR, 404: NOT_FOUND},
    )
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": SnapshotUploadSerializer},
        responses={200: RunDetailSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[parsers.MultiPartParser])
    def snapshot(self, request: Request, pk: str | None = None) -> Response | FileResponse:
        """GET: the run's source snapshot as a zip (Azure's ``run.restore_snapshot()``).
        POST (an interactive run only, Azure's ``run.take_snapshot()``): store ``snapshot``
        (zip or tar) as its snapshot, replacing an earlier one."""
        run = self.get_object()
        if request.method == "POST":
            return Response(RunDetailSerializer(take_snapshot(run, request), context={"request": request}).data)
        wanted = request.query_params.get("snapshot_id", "").strip().lower() or run.snapshot_sha256
        if not wanted:
            raise exceptions.NotFound(f"Run {run.pk} has no snapshot: an interactive run that took none.")
        if not SNAPSHOT_ID.match(wanted):
            raise serializers.ValidationError({"snapshot_id": ["Must be a snapshot id (64 hex digits)."]})
        if wanted != run.snapshot_sha256 and not self.get_queryset().filter(snapshot_sha256=wanted).exists():
            raise exceptions.NotFound(f"No snapshot '{wanted}' among the runs you can see.")
        if not snapshots.path_of(wanted).exists():
            raise exceptions.NotFound(f"Snapshot '{wanted}' is no longer stored.")
        try:
            path = snapshots.zip_of(wanted)
        except UnsafeArchive as exc:  # stored before a check tightened: say so instead of a 500
            raise serializers.ValidationError({"snapshot_id": [str(exc)]}) from None
        return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{wanted}.zip")

    @extend_schema(methods=["GET"], parameters=[OpenApiParameter("name", str)], responses=MetricSeriesSerializer)
    @extend_schema(
        methods=["POST"],
        request=MetricPointSerializer(many=True),
        responses={201: MetricsStoredSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get", "post"])
    def metrics(self, request: Request, pk: str | None = None) -> Response:
        """GET: points grouped by name (``?name=`` for one). POST: a batch of points."""
        if request.method == "POST":
            run = self._run_to_log_to()
            now = timezone.now()
            # Plain code, not a serializer per point (MetricPointSerializer stays the schema);
            # the point list or the SDK's columnar batch (runs.metricbatch).
            stored = metricstore.store_columns(run, metricbatch.parse_body(request.data, now), now)
            return Response({"stored": stored}, status=status.HTTP_201_CREATED)
        return Response(metricstore.grouped(self.get_object().pk, request.query_params.get("name")))

    def _run_to_log_to(self) -> Run:
        """``get_object()`` for a metrics batch without the list's filter form and joins
        (10 of a small batch's 23 ms): the same visibility (a run token: its run and the
        runs under it; others: their teams' runs; else 404) and object permissions."""
        runs = Run.objects.all()
        auth = self.request.auth
        if not isinstance(auth, RunScope):
            runs = scope_to_teams(self.request, runs)
        run = generics.get_object_or_404(runs, pk=self.kwargs["pk"])
        if isinstance(auth, RunScope) and run.pk != auth.run_id and auth.run_id not in interactive.ancestors(run):
            raise exceptions.NotFound("No Run matches the given query.")  # as get_object says
        self.check_object_permissions(self.request, run)
        return run

    @extend_schema(methods=["GET"], responses=ArtifactSerializer(many=True), filters=False)
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": ArtifactUploadSerializer},
        responses={201: ArtifactStoredSerializer, 400: VALIDATION_ERROR},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[parsers.MultiPartParser], pagination_class=None)
    def artifacts(self, request: Request, pk: str | None = None) -> Response:
        """GET lists artifacts; POST uploads one (``file`` + ``name``)."""
        run = self.get_object()
        if request.method == "POST":
            upload = request.FILES.get("file")
            name = body(request).get("name") or (upload.name if upload else "")
            if upload is None:
                raise serializers.ValidationError({"file": ["This field is required."]})
            try:
                art = artifacts.save_upload(run, name, upload)
            except UnsafeArchive as exc:
                raise serializers.ValidationError({exc.field: [str(exc)]}) from None
            return Response({"path": art.path, "size": art.size, "sha256": art.sha256}, status=status.HTTP_201_CREATED)
        return Response(
            [
                {"path": a.path, "size": a.size, "sha256": a.sha256, "created_at": a.created_at}
                for a in run.artifacts.order_by("path")
            ]
        )

    @extend_schema(
        parameters=[OpenApiParameter("path", str, required=True)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path="artifacts/download")
    def artifact_download(self, request: Request, pk: str | None = None) -> FileResponse:
        run = self.get_object()
        try:
            path = artifacts.clean_name(request.query_params.get("path", ""), field="path")
        except UnsafeArchive as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from None
        art = run.artifacts.filter(path=path).first()
        if art is None:
            raise exceptions.NotFound(f"No artifact '{path}' on run {run.pk}.")
        return FileResponse(open(artifacts.file_of(art), "rb"), as_attachment=True, filename=path.rsplit("/", 1)[-1])

    @extend_schema(
        parameters=[OpenApiParameter("prefix", str, description="Only artifacts under this folder.")],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, 400: VALIDATION_ERROR, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], url_path="artifacts/zip")
    def artifact_zip(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        """Every artifact (or those under ``prefix``) as one zip, streamed as it is built."""
        return zip_response(self.get_object(), request.query_params.get("prefix", ""))

    @extend_schema(request=RunTagsUpdateSerializer, responses={200: RunTagsSerializer, 400: VALIDATION_ERROR})
    @action(detail=True, methods=["post"])
    def tag(self, request: Request, pk: str | None = None) -> Response:
        """Merge ``{"tags": {...}}`` into the run's tags (run.tag / set_tags) and drop the
        keys in ``"remove": [...]`` (run.remove_tags)."""
        run = self.get_object()
        incoming = RunTagsUpdateSerializer(data=body(request))
        incoming.is_valid(raise_exception=True)
        tags, remove = incoming.validated_data.get("tags", {}), incoming.validated_data.get("remove", [])
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=run.pk)
            merged = {**locked.tags, **tags}
            locked.tags = {k: v for k, v in merged.items() if k not in remove}
            locked.save(update_fields=["tags"])
        return Response({"tags": locked.tags})
