"""MLflow's model registry routes over Runyard's model registry (``registry``).

A registered model is a team's model name; a model version is an immutable version whose
files are the run's artifacts under the version's ``source`` (``runs:/<id>/<path>`` or
the run's ``mlflow-artifacts:/runs/<id>/<path>``), taken as ``run.register_model`` takes
them, so ``mlflow.register_model(...)`` gives a version the dashboard and Azure's
``Model`` see. Versions are READY at once (files are copied when created)."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import default_team, scope_to_teams
from audit.services import record
from mlflow_api import errors
from mlflow_api.access import get_run, run_scope, user_of
from mlflow_api.errors import invalid, missing
from mlflow_api.queries import like_regex
from mlflow_api.shapes import ms
from mlflow_api.views import SCHEMA, MlflowView, _int, _key_values, _text
from registry import services
from registry.models import ModelVersion, RegisteredModel

SOURCE = re.compile(r"^(?:runs:/|mlflow-artifacts:/runs/)(?P<run>\d+)/(?P<path>.+)$")
NAME_FILTER = re.compile(r"^\s*name\s*(?P<op>=|ILIKE|LIKE)\s*'(?P<value>(?:[^']|'')*)'\s*$", re.IGNORECASE)


def visible_models(request: Request) -> QuerySet[RegisteredModel]:
    return scope_to_teams(request, RegisteredModel.objects.select_related("team"))


def get_model(request: Request, name: str) -> RegisteredModel:
    found = visible_models(request).filter(name=name).order_by("id").first()
    if found is None:
        raise missing(f"Registered Model with name={name} not found")
    return found


def version_json(v: ModelVersion) -> dict[str, Any]:
    source = f"mlflow-artifacts:/runs/{v.run_number}/{v.source_path}" if v.run_number else ""
    out: dict[str, Any] = {
        "name": v.model.name,
        "version": str(v.version),
        "creation_timestamp": ms(v.created_at),
        "last_updated_timestamp": ms(v.created_at),
        "user_id": v.created_by.get_username() if v.created_by is not None else "",
        "current_stage": "None",
        "description": v.description,
        "source": source,
        "status": "READY",
        "tags": [{"key": k, "value": str(val)} for k, val in sorted(v.tags.items())],
    }
    if v.run_number:
        out["run_id"] = str(v.run_number)
    return out


def model_json(m: RegisteredModel) -> dict[str, Any]:
    latest = m.versions.select_related("model", "created_by").order_by("-version").first()
    out: dict[str, Any] = {
        "name": m.name,
        "creation_timestamp": ms(m.created_at),
        "last_updated_timestamp": ms(latest.created_at if latest else m.created_at),
        "description": m.description,
        "tags": [{"key": "runyard.team", "value": m.team.slug}],
    }
    if latest is not None:
        out["latest_versions"] = [version_json(latest)]
    return out


class CreateRegisteredModel(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        name = services.check_name(_text(data, "name", limit=255))
        team = default_team(request, None)
        try:
            with transaction.atomic():
                model = RegisteredModel.objects.create(
                    name=name,
                    team=team,
                    created_by=user_of(request),
                    description=_text(data, "description", required=False, limit=10000),
                )
        except IntegrityError:
            raise errors.MlflowError(
                errors.RESOURCE_ALREADY_EXISTS, f"Registered Model (name={name}) already exists."
            ) from None
        record(
            "registry.model.created", actor=request.user, obj=model, team=team, changes={"name": name, "via": "mlflow"}
        )
        return Response({"registered_model": model_json(model)})


class GetRegisteredModel(MlflowView):
    @SCHEMA
    def get(self, request: Request) -> Response:
        return Response({"registered_model": model_json(get_model(request, _text(self.fields(request), "name")))})


class SearchRegisteredModels(MlflowView):
    """``filter``: ``name = '...'`` or ``name LIKE '...'`` / ``ILIKE``."""

    @SCHEMA
    def get(self, request: Request) -> Response:
        data = self.fields(request)
        models = visible_models(request).order_by("name", "id")
        text = _text(data, "filter", required=False, limit=1000)
        if text:
            match = NAME_FILTER.match(text)
            if match is None:
                raise invalid(
                    f"Invalid filter {text!r}: registered models are searched by name = '...' or name LIKE '...'."
                )
            value, op = match["value"].replace("''", "'"), match["op"].upper()
            if op == "=":
                models = models.filter(name=value)
            else:
                models = models.filter(**{"name__iregex" if op == "ILIKE" else "name__regex": like_regex(value)})
        limit = _int(data, "max_results", 100) or 100
        return Response({"registered_models": [model_json(m) for m in models[: max(1, min(limit, 1000))]]})


class GetLatestVersions(MlflowView):
    @SCHEMA
    def post(self, request: Request) -> Response:
        model = get_model(request, _text(self.fields(request), "name"))
        latest = model.versions.select_related("model", "created_by").order_by("-version").first()
        return Response({"model_versions": [version_json(latest)] if latest else []})

    @SCHEMA
    def get(self, request: Request) -> Response:
        return self.post(request)


class CreateModelVersion(MlflowView):
    """``source`` names the run's artifacts (a file or a folder); ``run_id`` must be that run."""

    @SCHEMA
    def post(self, request: Request) -> Response:
        data = self.fields(request)
        name = _text(data, "name", limit=255)
        source = _text(data, "source", limit=2000)
        match = SOURCE.match(source)
        if match is None:
            raise invalid(
                f"Invalid source {source!r}: a run's artifacts, runs:/<run id>/<path> "
                "or mlflow-artifacts:/runs/<run id>/<path>."
            )
        run = get_run(request, match["run"])
        if data.get("run_id") not in (None, "", match["run"]):
            raise invalid(f"run_id {data['run_id']} is not the run of source {source!r}.")
        existing = visible_models(request).filter(name=name).first()
        team = existing.team if existing is not None else run.team
        if existing is None and run_scope(request) is None:
            team = default_team(request, run.team)
        tags = dict(_key_values(data.get("tags"), "tags"))
        registration = services.Registration(
            name=name,
            team=team,
            description=_text(data, "description", required=False, limit=10000),
            tags=tags,
            lineage=services.Lineage(run=run, source_path=match["path"]),
        )
        version = services.register(registration, services.from_artifacts(run, match["path"]), actor=request.user)
        return Response({"model_version": version_json(version)})


class GetModelVersion(MlflowView):
    @SCHEMA
    def get(self, request: Request) -> Response:
        data = self.fields(request)
        model = get_model(request, _text(data, "name"))
        number = _text(data, "version")
        version = None
        if number.isascii() and number.isdigit():
            version = model.versions.select_related("model", "created_by").filter(version=int(number)).first()
        if version is None:
            raise missing(f"Model Version (name={model.name}, version={number}) not found")
        return Response({"model_version": version_json(version)})


class SearchModelVersions(MlflowView):
    """``filter``: ``name = '...'`` (and ``run_id = '...'``)."""

    @SCHEMA
    def get(self, request: Request) -> Response:
        data = self.fields(request)
        versions = scope_to_teams(request, ModelVersion.objects.select_related("model", "created_by"), "model__team")
        for part in re.split(r"\s+and\s+", _text(data, "filter", required=False, limit=1000), flags=re.IGNORECASE):
            if not part.strip():
                continue
            found = re.match(r"^\s*(name|run_id)\s*=\s*'((?:[^']|'')*)'\s*$", part)
            if found is None:
                raise invalid(
                    f"Invalid filter {part!r}: model versions are searched by name = '...' and run_id = '...'."
                )
            key, value = found[1], found[2].replace("''", "'")
            if key == "name":
                versions = versions.filter(model__name=value)
            else:
                versions = versions.filter(run_number=int(value) if value.isascii() and value.isdigit() else -1)
        limit = _int(data, "max_results", 1000) or 1000
        rows = versions.order_by("model__name", "-version")[: max(1, min(limit, 10000))]
        return Response({"model_versions": [version_json(v) for v in rows]})
