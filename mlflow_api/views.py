"""MLflow's REST tracking API (``/api/2.0/mlflow/...``) over Runyard's experiments and runs.

Each view is one MLflow endpoint with MLflow's request fields and response shape
(``mlflow_api.shapes``) and MLflow's errors (``mlflow_api.errors``). GETs read the query
string, POSTs a JSON body, as the ``mlflow`` client sends them."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import parsers, renderers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import SIGNED_IN, default_team
from audit.services import record
from mlflow_api import errors, queries, search
from mlflow_api.access import (
    experiment_by_name,
    get_experiment,
    get_run,
    run_id_of,
    run_scope,
    user_of,
    visible_experiments,
    visible_runs,
)
from mlflow_api.errors import invalid, missing
from mlflow_api.models import DatasetInput
from mlflow_api.shapes import (
    DELETED_TAG,
    PARENT_TAG,
    RUN_NAME_TAG,
    experiment_json,
    metric_json,
    run_info,
    run_json,
)
from runs import interactive, metricstore
from runs.models import Experiment, Metric, Run
from runs.status import Status

# MLflow's own limits (mlflow.utils.validation), so a batch the client splits for its
# server is split the same way for this one.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_RESULTS = 50000


class MlflowView(APIView):
    """Signed in (a user's API token, a run token or a session), MLflow's error shape."""

    permission_classes = SIGNED_IN
    parser_classes = [parsers.JSONParser]
    renderer_classes = [renderers.JSONRenderer]

    def get_exception_handler(self) -> Any:
        return errors.handler

    def fields(self, request: Request) -> dict[str, Any]:
        if request.method == "GET":
            # Repeated keys (experiment_ids=1&experiment_ids=2) stay lists.
            return {k: (v if len(v) > 1 else v[0]) for k, v in request.query_params.lists()}
        data = request.data
        if not isinstance(data, dict):
            raise invalid("The request body must be a JSON object.")
        return data


SCHEMA = extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT, filters=False)


def _text(data: dict[str, Any], name: str, *, required: bool = True, limit: int = 250) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise invalid(f"Missing value for required parameter '{name}'.")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise invalid(f"Invalid value {value!r} for parameter '{name}': must be a string.")
    text = str(value)
    if len(text) > limit:
        raise invalid(f"Parameter '{name}' is {len(text)} characters; at most {limit}.")
    return text


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid value {value!r} for parameter '{name}': must be an integer.") from None


def _at(ms_value: int | None) -> datetime | None:
    if ms_value is None:
        return None
    try:
        return datetime.fromtimestamp(ms_value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid(f"Invalid timestamp {ms_value}: milliseconds since the epoch.") from None


def _page(data: dict[str, Any], default: int) -> tuple[int, int]:
    limit = _int(data, "max_results", default) or default
    if limit < 1 or limit > MAX_RESULTS:
        raise invalid(f"Invalid value {limit} for parameter 'max_results': between 1 and {MAX_RESULTS}.")
    token = data.get("page_token") or ""
    offset = 0
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(str(token).encode())).get("offset", 0))
        except (ValueError, binascii.Error, AttributeError, TypeError):
            raise invalid(f"Invalid page token {token!r}.") from None
    return limit, max(offset, 0)


def _next_token(offset: int, limit: int, got: int) -> str | None:
    if got <= limit:
        return None
    return base64.urlsafe_b64encode(json.dumps({"offset": offset + limit}).encode()).decode()


def _key_values(items: Any, what: str) -> list[tuple[str, str]]:
    if items in (None, ""):
        return []
    if not isinstance(items, list):
        raise invalid(f"Invalid value for '{what}': must be a list of {{key, value}}.")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise invalid(f"Invalid entry {item!r} in '{what}': each needs a string 'key'.")
        value = item.get("value")
        out.append((item["key"], "" if value is None else str(value)))
    return out


# ---- experiments ---------------------------------------------------------------------
class CreateExperiment(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        name = _text(data, "name", limit=128)
        team = default_team(request, None)
        try:
            with transaction.atomic():
                exp = Experiment.objects.create(name=name, team=team, created_by=user_of(request))
        except IntegrityError:
            raise errors.MlflowError(
                errors.RESOURCE_ALREADY_EXISTS, f"Experiment '{name}' already exists in team {team.slug}."
            ) from None
        for key, value in _key_values(data.get("tags"), "tags"):
            if key == "mlflow.note.content":
                Experiment.objects.filter(pk=exp.pk).update(description=value)
        record("runs.experiment.created", actor=request.user, obj=exp, changes={"name": name, "via": "mlflow"})
        return Response({"experiment_id": str(exp.pk)})


class GetExperiment(MlflowView):
    @SCHEMA
    def get(self, request: Request) -> Response:
        exp = get_experiment(request, _text(self.fields(request), "experiment_id"))
        return Response({"experiment": experiment_json(exp)})


class GetExperimentByName(MlflowView):
    @SCHEMA
    def get(self, request: Request) -> Response:
        name = _text(self.fields(request), "experiment_name", limit=128)
        exp = experiment_by_name(request, name)
        if exp is None:
            raise missing(f"Could not find experiment with name '{name}'")
        return Response({"experiment": experiment_json(exp)})


class SearchExperiments(MlflowView):
    """``filter``: ``name = '...'``, ``name LIKE '...'`` / ``ILIKE`` (what names can be
    compared by; experiments have no metrics)."""

    def search(self, request: Request) -> Response:
        data = self.fields(request)
        limit, offset = _page(data, 1000)
        experiments = visible_experiments(request).order_by("-created_at", "-id")
        for clause in search.parse_filter(_text(data, "filter", required=False, limit=10000)):
            if clause.entity != "attribute" or clause.key != "run_name" or not isinstance(clause.value, str):
                raise invalid("Experiments are searched by name only: name = '...' or name LIKE '...'.")
            if clause.op == "=":
                experiments = experiments.filter(name=clause.value)
            elif clause.op == "!=":
                experiments = experiments.exclude(name=clause.value)
            else:
                lookup = "name__iregex" if clause.op == "ILIKE" else "name__regex"
                experiments = experiments.filter(**{lookup: queries.like_regex(clause.value)})
        rows = list(experiments[offset : offset + limit + 1])
        body: dict[str, Any] = {"experiments": [experiment_json(e) for e in rows[:limit]]}
        token = _next_token(offset, limit, len(rows))
        if token:
            body["next_page_token"] = token
        return Response(body)

    @SCHEMA
    def get(self, request: Request) -> Response:
        return self.search(request)

    @SCHEMA
    def post(self, request: Request) -> Response:
        return self.search(request)


# ---- runs ----------------------------------------------------------------------------
def _parent_for(request: Request, tags: dict[str, str]) -> Run | None:
    """The run ``mlflow.start_run(nested=True)`` names as parent (must be visible); a run
    token's runs always hang under its own run."""
    wanted = tags.pop(PARENT_TAG, "")
    if wanted:
        return get_run(request, wanted)
    scope = run_scope(request)
    if scope is not None:
        return Run.objects.select_related("experiment", "team").get(pk=scope.run_id)
    return None


class CreateRun(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        tags = dict(_key_values(data.get("tags"), "tags"))
        for key, value in tags.items():
            _check_tag(key, value)
        parent = _parent_for(request, tags)
        name = _text(data, "run_name", required=False, limit=200) or tags.pop(RUN_NAME_TAG, "")
        tags.pop(RUN_NAME_TAG, None)
        if parent is not None:
            exp = parent.experiment
            if data.get("experiment_id") not in (None, "", "0", str(exp.pk)):
                get_experiment(request, data["experiment_id"])  # a 404 for an unseen one, before the 400
                raise invalid(f"A child run is in its parent's experiment ({exp.pk}).")
        else:
            exp = get_experiment(request, data.get("experiment_id") or "0")
        run = interactive.start(
            team=exp.team, user=request.user, experiment=exp.name, parent=parent, display_name=name, tags=tags
        )
        return Response({"run": run_json(Run.objects.select_related("submitted_by").get(pk=run.pk))})


class GetRun(MlflowView):
    @SCHEMA
    def get(self, request: Request) -> Response:
        return Response({"run": run_json(get_run(request, run_id_of(self.fields(request))))})


class UpdateRun(MlflowView):
    """Rename; and for a run the client started, end it. A submitted run's status is
    its script's: ``mlflow.end_run()`` inside it changes nothing (the worker ends it)."""

    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        name = _text(data, "run_name", required=False, limit=200)
        if name and name != run.display_name:
            Run.objects.filter(pk=run.pk).update(display_name=name)
        wanted = str(data.get("status") or "").upper()
        if wanted not in ("", "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"):
            raise invalid(f"Invalid value {wanted!r} for parameter 'status'.")
        if run.interactive and not run.is_terminal and wanted in ("FINISHED", "FAILED", "KILLED"):
            status = Status.COMPLETED if wanted == "FINISHED" else Status.FAILED
            error = "" if wanted == "FINISHED" else f"ended by the MLflow client as {wanted}"
            interactive.finish(run, status=status, error=error, user=request.user)
        run = Run.objects.select_related("submitted_by").get(pk=run.pk)
        return Response({"run_info": run_info(run)})


class DeleteRun(MlflowView):
    """MLflow's soft delete: the run is hidden from MLflow's searches, kept in Runyard."""

    deleted = True

    @SCHEMA
    def post(self, request: Request) -> Response:
        run = get_run(request, run_id_of(self.fields(request)))
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=run.pk)
            tags = dict(locked.tags)
            if self.deleted:
                tags[DELETED_TAG] = "true"
            else:
                tags.pop(DELETED_TAG, None)
            locked.tags = tags
            locked.save(update_fields=["tags"])
        action = "runs.run.mlflow_deleted" if self.deleted else "runs.run.mlflow_restored"
        record(action, actor=request.user, obj=run, changes={})
        return Response({})


class RestoreRun(DeleteRun):
    deleted = False


def _check_tag(key: str, value: str) -> None:
    if len(key) > 250:
        raise invalid(f"Tag key {key[:40]!r}… is {len(key)} characters; at most 250.")
    if len(value) > MAX_TAG_VALUE:
        raise invalid(f"Tag '{key}' has a value of {len(value)} characters; at most {MAX_TAG_VALUE}.")


def _set_tags(run: Run, tags: list[tuple[str, str]], remove: list[str] = ()) -> None:  # type: ignore[assignment]
    for key, value in tags:
        _check_tag(key, value)
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        merged = dict(locked.tags)
        for key, value in tags:
            if key == RUN_NAME_TAG:
                Run.objects.filter(pk=run.pk).update(display_name=value[:200])
            elif key != PARENT_TAG:  # the parent is the run's, not a tag to rewrite
                merged[key] = value
        for key in remove:
            if key not in merged:
                raise missing(f"No tag with name: {key} in run with id {run.pk}")
            merged.pop(key)
        locked.tags = merged
        locked.save(update_fields=["tags"])


def _add_params(run: Run, params: list[tuple[str, str]]) -> None:
    if not params:
        return
    for key, value in params:
        if len(key) > 250:
            raise invalid(f"Param key {key[:40]!r}… is {len(key)} characters; at most 250.")
        if len(value) > MAX_PARAM_VALUE:
            raise invalid(f"Param '{key}' has a value of {len(value)} characters; at most {MAX_PARAM_VALUE}.")
    seen: dict[str, str] = {}
    for key, value in params:
        if key in seen and seen[key] != value:
            raise invalid(f"Duplicate parameter keys have been submitted: '{key}'.")
        seen[key] = value
    interactive.add_properties(run, seen)


def _metric_points(items: Any) -> list[dict[str, Any]]:
    if items in (None, ""):
        return []
    if not isinstance(items, list):
        raise invalid("Invalid value for 'metrics': must be a list of {key, value, timestamp, step}.")
    return [_metric_point(m) for m in items]


def _metric_point(m: Any) -> dict[str, Any]:
    if not isinstance(m, dict):
        raise invalid(f"Invalid metric {m!r}: must be an object with key, value, timestamp, step.")
    key = _text(m, "key")
    raw = m.get("value")
    try:
        value = float(raw)  # type: ignore[arg-type]  # MLflow's JSON writes NaN and infinities as strings
    except (TypeError, ValueError):
        raise invalid(f"Invalid value {raw!r} for metric '{key}': must be a number.") from None
    if isinstance(raw, bool):
        raise invalid(f"Invalid value {raw!r} for metric '{key}': must be a number.")
    timestamp = _int(m, "timestamp")
    if timestamp is None:
        raise invalid(f"Missing value for required parameter 'timestamp' of metric '{key}'.")
    step = _int(m, "step", 0)
    if step is not None and not -(2**63) <= step < 2**63:
        raise invalid(f"Invalid step {step} for metric '{key}': a 64-bit integer.")
    point: dict[str, Any] = {"name": key, "step": step, "time": _at(timestamp)}
    if math.isfinite(value):
        point["value"] = value
    else:  # kept as text where a FloatField cannot hold it on every database
        point.update(kind=Metric.Kind.TEXT, payload=str(value))
    return point


class LogMetric(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        metricstore.store(run, [_metric_point(data)])
        return Response({})


class LogParam(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        key = _text(data, "key")
        _add_params(run, [(key, "" if data.get("value") is None else str(data["value"]))])
        return Response({})


class SetTag(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        key = _text(data, "key")
        _set_tags(run, [(key, "" if data.get("value") is None else str(data["value"]))])
        return Response({})


class DeleteTag(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        _set_tags(run, [], remove=[_text(data, "key")])
        return Response({})


class LogBatch(MlflowView):
    """Up to 1000 metrics, 100 params and 100 tags in one request (MLflow's limits)."""

    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        points = _metric_points(data.get("metrics"))
        params = _key_values(data.get("params"), "params")
        tags = _key_values(data.get("tags"), "tags")
        if len(points) > MAX_METRICS_PER_BATCH:
            raise invalid(
                f"A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. "
                f"Got {len(points)} metrics."
            )
        if len(params) > MAX_PARAMS_TAGS_PER_BATCH or len(tags) > MAX_PARAMS_TAGS_PER_BATCH:
            raise invalid(
                f"A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params and tags each."
            )
        if len(points) + len(params) + len(tags) > MAX_ENTITIES_PER_BATCH:
            raise invalid(f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} entities.")
        _add_params(run, params)
        if tags:
            _set_tags(run, tags)
        if points:
            metricstore.store(run, points)
        return Response({})


class LogInputs(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        datasets = data.get("datasets") or []
        if not isinstance(datasets, list):
            raise invalid("Invalid value for 'datasets': must be a list of {tags, dataset}.")
        for item in datasets:
            dataset = item.get("dataset") if isinstance(item, dict) else None
            if not isinstance(dataset, dict):
                raise invalid(f"Invalid dataset input {item!r}: needs a 'dataset' object.")
            tags = [{"key": k, "value": v} for k, v in _key_values(item.get("tags"), "tags")]
            DatasetInput.objects.update_or_create(
                run=run,
                name=_text(dataset, "name", limit=500),
                digest=_text(dataset, "digest", limit=36),
                defaults={
                    "source_type": _text(dataset, "source_type", limit=64),
                    "source": _text(dataset, "source", limit=65535),
                    "schema": _text(dataset, "schema", required=False, limit=1 << 20),
                    "profile": _text(dataset, "profile", required=False, limit=1 << 20),
                    "tags": tags,
                },
            )
        return Response({})


class SearchRuns(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        limit, offset = _page(data, 1000)
        ids = data.get("experiment_ids") or []
        if isinstance(ids, str | int):
            ids = [ids]
        if not isinstance(ids, list):
            raise invalid("Invalid value for 'experiment_ids': must be a list of experiment ids.")
        runs = visible_runs(request)
        if ids:
            runs = runs.filter(experiment_id__in=[get_experiment(request, i).pk for i in ids])
        order = data.get("order_by") or []
        if isinstance(order, str):
            order = [order]
        if not isinstance(order, list) or not all(isinstance(o, str) for o in order):
            raise invalid("Invalid value for 'order_by': must be a list of strings such as 'metrics.acc DESC'.")
        runs = queries.lifecycle(runs, str(data.get("run_view_type") or ""))
        runs = queries.apply_filter(runs, search.parse_filter(_text(data, "filter", required=False, limit=100000)))
        runs = queries.apply_order(runs, search.parse_order_by(order))
        rows = list(runs[offset : offset + limit + 1])
        body: dict[str, Any] = {"runs": [run_json(r) for r in rows[:limit]]}
        token = _next_token(offset, limit, len(rows))
        if token:
            body["next_page_token"] = token
        return Response(body)


class GetMetricHistory(MlflowView):
    @SCHEMA
    def get(self, request: Request) -> Response:
        data = self.fields(request)
        run = get_run(request, run_id_of(data))
        key = _text(data, "metric_key")
        limit, offset = _page(data, 25000)
        rows = metricstore.scalar_points(run.pk, key, offset=offset, limit=limit + 1)
        body: dict[str, Any] = {"metrics": [metric_json(m) for m in rows[:limit]]}
        token = _next_token(offset, limit, len(rows))
        if token:
            body["next_page_token"] = token
        return Response(body)


class SearchLoggedModels(MlflowView):
    """MLflow 3's logged models: Runyard has none (a model is registered from a run's
    files), so the search is empty; the client asks this on every listing of a run's
    artifacts, to merge in a model logged under the same name."""

    @SCHEMA
    def post(self, request: Request) -> Response:
        return Response({"models": []})
