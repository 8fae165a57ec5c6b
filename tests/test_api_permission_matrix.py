"""The permission matrix, generated from the OpenAPI schema: every operation × {anonymous,
member of another team, member, admin, run token of a run of the member's team}.

Every operation must be classified in ``MATRIX`` (a new one that is not fails
``test_every_operation_is_classified``). Each operation is then called by every role on
team A's objects, each call rolled back to a savepoint, and the outcome must match its
class. What a run token may do comes from ``accounts.permissions.RUN_TOKEN_ALLOWED``
itself: allowed there (and on its own run) or 403. The hand-written cases are in
tests/test_api_permissions.py.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.permissions import RUN_TOKEN_ALLOWED, RUN_TOKEN_DENIED, RunTokenRoute
from audit.models import AuditEvent
from compute.models import ComputeTarget
from datasets.models import Datastore
from environments.models import Environment, EnvironmentBuild, PackageIndex, TeamSecret
from notifications.models import Channel, Subscription
from runs import snapshots
from runs.models import Run, RunToken
from scheduling.models import TeamQuota
from tests.conftest import World, make_tar
from tests.factories import make_run


class Access(enum.Enum):
    PUBLIC = "anyone; no credentials are read (a run token's are ignored)"
    ANYONE = "anyone, signed in or not; credentials are read"
    SIGNED_IN = "any signed-in user; lists hold only the user's teams' objects"
    CREATE_IN_TEAM = "any signed-in user, into a team they are a member of"
    TEAM = "members of the object's team, and admins"
    OWN = "the signed-in user's own object only (not even admins see others')"
    ADMIN = "admins only"


A = Access
MATRIX: dict[tuple[str, str], Access] = {
    ("GET", "/api/health/"): A.PUBLIC,
    ("POST", "/api/auth/token/"): A.PUBLIC,
    ("GET", "/api/auth/session/"): A.ANYONE,
    ("POST", "/api/auth/session/"): A.ANYONE,
    ("DELETE", "/api/auth/session/"): A.ANYONE,
    ("GET", "/api/auth/tokens/"): A.SIGNED_IN,
    ("DELETE", "/api/auth/tokens/{id}/"): A.OWN,
    ("POST", "/api/auth/tokens/"): A.SIGNED_IN,  # the settings page: a token for oneself
    ("GET", "/api/auth/teams/"): A.SIGNED_IN,
    ("GET", "/api/auth/teams/{id}/"): A.TEAM,
    ("GET", "/api/audit/events/"): A.SIGNED_IN,
    ("GET", "/api/audit/events/{id}/"): A.TEAM,
    # Compute targets and datastores are shared: everyone reads, admins write.
    ("GET", "/api/compute-targets/"): A.SIGNED_IN,
    ("POST", "/api/compute-targets/"): A.ADMIN,
    ("GET", "/api/compute-targets/{id}/"): A.SIGNED_IN,
    ("PUT", "/api/compute-targets/{id}/"): A.ADMIN,
    ("PATCH", "/api/compute-targets/{id}/"): A.ADMIN,
    ("DELETE", "/api/compute-targets/{id}/"): A.ADMIN,
    ("POST", "/api/compute-targets/{id}/test/"): A.ADMIN,
    ("GET", "/api/datastores/"): A.SIGNED_IN,
    ("POST", "/api/datastores/"): A.ADMIN,
    ("GET", "/api/datastores/{id}/"): A.SIGNED_IN,
    ("PUT", "/api/datastores/{id}/"): A.ADMIN,
    ("PATCH", "/api/datastores/{id}/"): A.ADMIN,
    ("DELETE", "/api/datastores/{id}/"): A.ADMIN,
    ("GET", "/api/datastores/{id}/files/"): A.SIGNED_IN,
    ("POST", "/api/datastores/{id}/upload/"): A.SIGNED_IN,  # datastore team scoping: later work
    ("GET", "/api/datasets/"): A.SIGNED_IN,
    ("POST", "/api/datasets/"): A.CREATE_IN_TEAM,
    ("POST", "/api/datasets/register/"): A.CREATE_IN_TEAM,
    ("POST", "/api/datasets/preview/"): A.CREATE_IN_TEAM,
    ("GET", "/api/datasets/{id}/"): A.TEAM,
    ("PUT", "/api/datasets/{id}/"): A.TEAM,
    ("PATCH", "/api/datasets/{id}/"): A.TEAM,
    ("DELETE", "/api/datasets/{id}/"): A.TEAM,
    ("GET", "/api/datasets/{id}/versions/"): A.TEAM,
    ("POST", "/api/datasets/{id}/versions/"): A.TEAM,
    ("GET", "/api/dataset-versions/"): A.SIGNED_IN,
    ("GET", "/api/dataset-versions/{id}/"): A.TEAM,
    ("PATCH", "/api/dataset-versions/{id}/"): A.TEAM,
    ("DELETE", "/api/dataset-versions/{id}/"): A.TEAM,
    ("GET", "/api/dataset-versions/{id}/download/"): A.TEAM,
    ("GET", "/api/dataset-versions/{id}/preview/"): A.TEAM,
    ("GET", "/api/dataset-versions/{id}/profile/"): A.TEAM,
    ("POST", "/api/dataset-versions/{id}/profile/"): A.TEAM,
    ("GET", "/api/environments/"): A.SIGNED_IN,
    ("POST", "/api/environments/"): A.CREATE_IN_TEAM,
    ("GET", "/api/environments/{id}/"): A.TEAM,
    ("PUT", "/api/environments/{id}/"): A.TEAM,
    ("PATCH", "/api/environments/{id}/"): A.TEAM,
    ("DELETE", "/api/environments/{id}/"): A.TEAM,
    ("GET", "/api/environments/{id}/versions/"): A.TEAM,
    ("POST", "/api/environments/{id}/versions/"): A.TEAM,
    ("GET", "/api/environment-versions/"): A.SIGNED_IN,
    ("GET", "/api/environment-versions/{id}/"): A.TEAM,
    ("POST", "/api/environment-versions/{id}/build/"): A.TEAM,
    ("GET", "/api/environment-builds/"): A.SIGNED_IN,
    ("GET", "/api/environment-builds/{id}/"): A.TEAM,
    ("GET", "/api/environment-builds/{id}/log/"): A.TEAM,
    ("GET", "/api/experiments/"): A.SIGNED_IN,
    ("POST", "/api/experiments/"): A.CREATE_IN_TEAM,
    ("GET", "/api/experiments/{id}/"): A.TEAM,
    ("PUT", "/api/experiments/{id}/"): A.TEAM,
    ("PATCH", "/api/experiments/{id}/"): A.TEAM,
    ("DELETE", "/api/experiments/{id}/"): A.TEAM,
    ("GET", "/api/runs/"): A.SIGNED_IN,
    ("POST", "/api/runs/"): A.CREATE_IN_TEAM,
    ("GET", "/api/runs/{id}/"): A.TEAM,
    ("GET", "/api/runs/{id}/artifacts/"): A.TEAM,
    ("POST", "/api/runs/{id}/artifacts/"): A.TEAM,
    ("GET", "/api/runs/{id}/artifacts/download/"): A.TEAM,
    ("POST", "/api/runs/{id}/cancel/"): A.TEAM,
    ("GET", "/api/runs/{id}/inputs/"): A.TEAM,
    ("GET", "/api/runs/{id}/logs/"): A.TEAM,
    ("GET", "/api/runs/{id}/logs/download/"): A.TEAM,
    ("GET", "/api/runs/{id}/metrics/"): A.TEAM,
    ("POST", "/api/runs/{id}/metrics/"): A.TEAM,
    ("GET", "/api/runs/{id}/processes/"): A.TEAM,
    ("GET", "/api/runs/{id}/environment/"): A.TEAM,
    ("GET", "/api/runs/{id}/attempts/"): A.TEAM,
    ("POST", "/api/runs/{id}/alert/"): A.TEAM,
    ("GET", "/api/notifications/"): A.SIGNED_IN,
    ("POST", "/api/notifications/read/"): A.SIGNED_IN,
    ("GET", "/api/notification-channels/"): A.SIGNED_IN,
    ("POST", "/api/notification-channels/"): A.SIGNED_IN,
    ("GET", "/api/notification-channels/{id}/"): A.OWN,
    ("PUT", "/api/notification-channels/{id}/"): A.OWN,
    ("PATCH", "/api/notification-channels/{id}/"): A.OWN,
    ("DELETE", "/api/notification-channels/{id}/"): A.OWN,
    ("GET", "/api/notification-subscriptions/"): A.SIGNED_IN,
    ("POST", "/api/notification-subscriptions/"): A.SIGNED_IN,
    ("GET", "/api/notification-subscriptions/{id}/"): A.OWN,
    ("PUT", "/api/notification-subscriptions/{id}/"): A.OWN,
    ("PATCH", "/api/notification-subscriptions/{id}/"): A.OWN,
    ("DELETE", "/api/notification-subscriptions/{id}/"): A.OWN,
    ("GET", "/api/notification-deliveries/"): A.ADMIN,
    ("GET", "/api/runs/{id}/status-history/"): A.TEAM,
    ("POST", "/api/runs/{id}/tag/"): A.TEAM,
    ("POST", "/api/runs/{id}/priority/"): A.TEAM,
    # Scheduling (scheduling.api): quotas are admins' to set; a target's board is shared.
    ("GET", "/api/team-quotas/"): A.SIGNED_IN,
    ("POST", "/api/team-quotas/"): A.ADMIN,
    ("GET", "/api/team-quotas/{id}/"): A.TEAM,
    ("PUT", "/api/team-quotas/{id}/"): A.ADMIN,
    ("PATCH", "/api/team-quotas/{id}/"): A.ADMIN,
    ("DELETE", "/api/team-quotas/{id}/"): A.ADMIN,
    ("GET", "/api/schedule/{id}/"): A.SIGNED_IN,
    ("GET", "/api/schedule/{id}/timeline/"): A.SIGNED_IN,
    ("GET", "/api/usage/"): A.SIGNED_IN,
    ("GET", "/api/usage/csv/"): A.SIGNED_IN,
    ("GET", "/api/runs/{id}/snapshot/"): A.TEAM,
    # Diagnosis, browse and edit-after-submit (the run page).
    ("GET", "/api/runs/{id}/diagnosis/"): A.TEAM,
    ("GET", "/api/runs/{id}/artifacts/zip/"): A.TEAM,
    ("PATCH", "/api/runs/{id}/"): A.TEAM,
    ("POST", "/api/runs/{id}/snapshot/"): A.TEAM,
    # Interactive and child runs (Azure's start_logging / child_run), add-only properties.
    ("POST", "/api/runs/start-logging/"): A.CREATE_IN_TEAM,
    ("POST", "/api/runs/{id}/complete/"): A.TEAM,
    ("POST", "/api/runs/{id}/properties/"): A.TEAM,
    # The model registry: team-owned names and versions; a run registers its own artifacts.
    ("GET", "/api/models/"): A.SIGNED_IN,
    ("POST", "/api/models/register/"): A.CREATE_IN_TEAM,
    ("GET", "/api/models/{id}/"): A.TEAM,
    ("DELETE", "/api/models/{id}/"): A.TEAM,
    ("GET", "/api/models/{id}/versions/"): A.TEAM,
    ("GET", "/api/model-versions/"): A.SIGNED_IN,
    ("GET", "/api/model-versions/{id}/"): A.TEAM,
    ("PATCH", "/api/model-versions/{id}/"): A.TEAM,
    ("DELETE", "/api/model-versions/{id}/"): A.TEAM,
    ("POST", "/api/model-versions/{id}/tags/"): A.TEAM,
    ("GET", "/api/model-versions/{id}/download/"): A.TEAM,
    ("GET", "/api/model-versions/{id}/preview/"): A.TEAM,
    ("POST", "/api/runs/{id}/register-model/"): A.TEAM,
    # The workbench: a selection's bulk actions act on the caller's teams' runs only (others are
    # refused by id: tests/test_run_workbench.py), saved columns are the caller's own.
    ("POST", "/api/runs/bulk/"): A.SIGNED_IN,
    ("GET", "/api/runs/columns/"): A.SIGNED_IN,
    ("PUT", "/api/runs/columns/"): A.SIGNED_IN,
    ("GET", "/api/runs/keys/"): A.SIGNED_IN,
    ("GET", "/api/runs/compare/"): A.SIGNED_IN,
    ("GET", "/api/runs/compare/series/"): A.SIGNED_IN,
    ("GET", "/api/runs/compare/snapshots/"): A.SIGNED_IN,
    # The server as an Azure ML workspace (the SDK's Workspace attributes).
    ("GET", "/api/workspace/"): A.SIGNED_IN,
    ("GET", "/api/limits/"): A.SIGNED_IN,
    # Team secrets: write-only values, a team's own.
    # Allowed package indexes: everyone reads (to select one in a spec), admins write.
    ("GET", "/api/package-indexes/"): A.SIGNED_IN,
    ("POST", "/api/package-indexes/"): A.ADMIN,
    ("GET", "/api/package-indexes/{id}/"): A.SIGNED_IN,
    ("PUT", "/api/package-indexes/{id}/"): A.ADMIN,
    ("PATCH", "/api/package-indexes/{id}/"): A.ADMIN,
    ("DELETE", "/api/package-indexes/{id}/"): A.ADMIN,
    ("GET", "/api/team-secrets/"): A.SIGNED_IN,
    ("POST", "/api/team-secrets/"): A.CREATE_IN_TEAM,
    ("GET", "/api/team-secrets/{id}/"): A.TEAM,
    ("PUT", "/api/team-secrets/{id}/"): A.TEAM,
    ("PATCH", "/api/team-secrets/{id}/"): A.TEAM,
    ("DELETE", "/api/team-secrets/{id}/"): A.TEAM,
    # MLflow's tracking API (mlflow_api): the run or experiment is named in the body or query.
    ("POST", "/api/2.0/mlflow/experiments/create"): A.SIGNED_IN,  # into the user's own team
    ("GET", "/api/2.0/mlflow/experiments/get"): A.TEAM,
    ("GET", "/api/2.0/mlflow/experiments/get-by-name"): A.TEAM,
    ("GET", "/api/2.0/mlflow/experiments/search"): A.SIGNED_IN,
    ("POST", "/api/2.0/mlflow/experiments/search"): A.SIGNED_IN,
    ("POST", "/api/2.0/mlflow/runs/create"): A.TEAM,  # in the named experiment's team
    ("GET", "/api/2.0/mlflow/runs/get"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/update"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/delete"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/restore"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/search"): A.SIGNED_IN,
    ("POST", "/api/2.0/mlflow/runs/log-metric"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/log-parameter"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/log-batch"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/log-inputs"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/set-tag"): A.TEAM,
    ("POST", "/api/2.0/mlflow/runs/delete-tag"): A.TEAM,
    ("GET", "/api/2.0/mlflow/metrics/get-history"): A.TEAM,
    ("GET", "/api/2.0/mlflow/artifacts/list"): A.TEAM,
    ("POST", "/api/2.0/mlflow/logged-models/search"): A.SIGNED_IN,
    ("GET", "/api/2.0/mlflow-artifacts/artifacts"): A.TEAM,
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/runs/{id}/{path}"): A.TEAM,
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/runs/{id}/{path}"): A.TEAM,
    ("POST", "/api/2.0/mlflow/registered-models/create"): A.SIGNED_IN,  # into the user's own team
    ("GET", "/api/2.0/mlflow/registered-models/get"): A.TEAM,
    ("GET", "/api/2.0/mlflow/registered-models/search"): A.SIGNED_IN,
    ("GET", "/api/2.0/mlflow/registered-models/get-latest-versions"): A.TEAM,
    ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions"): A.TEAM,
    ("POST", "/api/2.0/mlflow/model-versions/create"): A.TEAM,  # of a run of the team
    ("GET", "/api/2.0/mlflow/model-versions/get"): A.TEAM,
    ("GET", "/api/2.0/mlflow/model-versions/search"): A.SIGNED_IN,
    # Sweeps (HyperDrive runs): a team's, like its runs.
    ("GET", "/api/sweeps/"): A.SIGNED_IN,
    ("POST", "/api/sweeps/"): A.CREATE_IN_TEAM,
    ("GET", "/api/sweeps/{id}/"): A.TEAM,
    ("GET", "/api/sweeps/{id}/best/"): A.TEAM,
    ("POST", "/api/sweeps/{id}/cancel/"): A.TEAM,
    ("GET", "/api/sweeps/{id}/children/"): A.TEAM,
    ("GET", "/api/sweeps/{id}/metrics/"): A.TEAM,
}


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_operation_is_classified() -> None:
    operations = schema_operations()
    unclassified = sorted(operations - set(MATRIX))
    assert not unclassified, f"classify these operations in MATRIX: {unclassified}"
    assert not sorted(set(MATRIX) - operations), "MATRIX names operations the schema no longer has"


def test_the_run_token_allow_list_names_real_operations() -> None:
    """Every allow-list entry is a route of the schema (a renamed route must not linger)."""
    routes = set()
    for method, path in MATRIX:
        concrete = path.replace("{id}", "1")
        routes.add(RunTokenRoute(method, resolve(concrete).url_name or ""))
    assert set(RUN_TOKEN_ALLOWED) <= routes, sorted(set(RUN_TOKEN_ALLOWED) - routes, key=str)


@dataclass
class Objects:
    """Team A's objects, by the collection path their URLs start with: the id to put in
    ``{id}`` (and the id a list must not show to team B; None for shared kinds)."""

    ids: dict[str, int | None]
    query: dict[str, dict[str, Any]]  # a GET's query; a write's body where BODY names no object of team A
    run_token: str
    other_run: int

    def url(self, path: str) -> str:
        if "{id}" not in path:
            return path
        return path.replace("{id}", str(self.ids[path.split("{id}")[0]])).replace("{path}", "outputs/model.txt")


def team_a_objects(world: World) -> Objects:
    alice = world.alice.client
    made = alice.post(
        "/api/environments/", {"name": "matrix-env", "spec": {"pip_requirements": ["six==1.16.0"]}}, format="json"
    )
    assert made.status_code == 201, made.content
    env = Environment.objects.get(pk=made.json()["id"])
    version = env.latest_version()
    assert version is not None
    build = EnvironmentBuild.objects.create(content_hash=version.content_hash, kind="venv", location="matrix")
    registered = alice.post("/api/datasets/register/", {"name": "matrix-ds", "files": [make_tar({"a.txt": "a"})]})
    assert registered.status_code == 201, registered.content
    snapshot = snapshots.store(make_tar({"train.py": "print(1)\n"}))
    run = make_run(world.alice.user, world.team_a, snapshot_sha256=snapshot.sha256)
    other = make_run(world.alice.user, world.team_a)
    artifact = io.BytesIO(b"weights")
    artifact.name = "model.txt"
    uploaded = alice.post(f"/api/runs/{run.pk}/artifacts/", {"file": artifact, "name": "outputs/model.txt"})
    assert uploaded.status_code == 201, uploaded.content
    channel = Channel.objects.create(user=world.alice.user, name="matrix", kind="email", address="a@example.com")
    subscription = Subscription.objects.create(user=world.alice.user, events=["run.failed"])
    model = alice.post(f"/api/runs/{run.pk}/register-model/", {"model_name": "matrix-model", "model_path": "outputs"})
    assert model.status_code == 201, model.content
    event = AuditEvent.objects.filter(team=world.team_a).first()
    assert event is not None
    ids: dict[str, int | None] = {
        "/api/runs/": run.pk,
        "/api/runs/compare/": run.pk,  # team B's comparison must not describe it
        "/api/experiments/": run.experiment_id,
        "/api/environments/": env.pk,
        "/api/environment-versions/": version.pk,
        "/api/environment-builds/": build.pk,
        "/api/datasets/": registered.json()["dataset"],
        "/api/dataset-versions/": registered.json()["id"],
        "/api/audit/events/": event.pk,
        "/api/models/": model.json()["model"],
        "/api/model-versions/": model.json()["id"],
        "/api/auth/teams/": world.team_a.pk,
        "/api/auth/tokens/": ApiToken.objects.get(user=world.alice.user).pk,
        "/api/datastores/": Datastore.objects.get(is_default=True).pk,
        "/api/compute-targets/": ComputeTarget.objects.get(name="local").pk,
        "/api/team-quotas/": TeamQuota.objects.create(
            team=world.team_a, compute_target=ComputeTarget.objects.get(name="local"), share=1
        ).pk,
        "/api/schedule/": ComputeTarget.objects.get(name="local").pk,
        "/api/package-indexes/": PackageIndex.objects.get(name="pytorch-cpu").pk,
        "/api/team-secrets/": TeamSecret.objects.create(team=world.team_a, name="matrix-secret", value="s3cr3t!").pk,
        "/api/notification-channels/": channel.pk,
        "/api/notification-subscriptions/": subscription.pk,
        "/api/sweeps/": matrix_sweep(world),
    }
    ids["/api/2.0/mlflow-artifacts/artifacts/runs/"] = run.pk
    Run.objects.filter(pk=run.pk).update(tags={"matrix": "tag"})
    mlflow_run = {"run_id": str(run.pk)}
    model_name = "matrix-model"
    ml = "/api/2.0/mlflow/"
    return Objects(
        ids=ids,
        query={
            "/api/runs/{id}/artifacts/download/": {"path": "outputs/model.txt"},
            f"{ml}experiments/get": {"experiment_id": str(run.experiment_id)},
            f"{ml}experiments/get-by-name": {"experiment_name": run.experiment.name},
            f"{ml}runs/get": mlflow_run,
            f"{ml}metrics/get-history": {**mlflow_run, "metric_key": "loss"},
            f"{ml}artifacts/list": mlflow_run,
            "/api/2.0/mlflow-artifacts/artifacts": {"path": f"runs/{run.pk}"},
            f"{ml}runs/create": {"experiment_id": str(run.experiment_id)},
            f"{ml}runs/update": {**mlflow_run, "run_name": "renamed"},
            f"{ml}runs/delete": mlflow_run,
            f"{ml}runs/restore": mlflow_run,
            f"{ml}runs/log-metric": {**mlflow_run, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0},
            f"{ml}runs/log-parameter": {**mlflow_run, "key": "lr", "value": "0.1"},
            f"{ml}runs/log-batch": {**mlflow_run, "metrics": [{"key": "m", "value": 1, "timestamp": 1}]},
            f"{ml}runs/log-inputs": {**mlflow_run, "datasets": []},
            f"{ml}runs/set-tag": {**mlflow_run, "key": "k", "value": "v"},
            f"{ml}runs/delete-tag": {**mlflow_run, "key": "matrix"},
            f"{ml}registered-models/get": {"name": model_name},
            f"{ml}registered-models/get-latest-versions": {"name": model_name},
            f"{ml}model-versions/get": {"name": model_name, "version": "1"},
            f"{ml}model-versions/create": {"name": "matrix-mlflow", "source": f"runs:/{run.pk}/outputs/model.txt"},
            "/api/dataset-versions/{id}/download/": {"path": "a.txt"},
            "/api/model-versions/{id}/preview/": {"path": "outputs/model.txt"},
            **{f"/api/runs/compare/{part}": {"ids": f"{run.pk},{other.pk}"} for part in ("", "series/", "snapshots/")},
        },
        run_token=RunToken.issue(run),
        other_run=other.pk,
    )


def matrix_sweep(world: World) -> int:
    from tests.sweeps.helpers import create_sweep, hyperdrive

    made = create_sweep(world.alice, hyperdrive({"a": ["choice", [[1, 2]]]}))
    assert made.status_code == 201, made.content
    return int(made.json()["id"])


SHARED_LISTS = {"/api/compute-targets/", "/api/datastores/", "/api/package-indexes/"}
BODY = {"name": "matrix-new", "team": "default", "value": "matrix-value"}  # team A's slug


def call(client: APIClient, method: str, url: str, query: dict[str, Any]) -> Any:
    """One request, rolled back: every call sees the same objects."""
    with transaction.atomic():
        if method == "GET":
            response = client.get(url, query)
        else:
            response = getattr(client, method.lower())(url, query or BODY, format="json")
        transaction.set_rollback(True)
    assert response.status_code < 500, (method, url, response.status_code)
    return response


def allowed(response: Any) -> bool:
    return response.status_code not in (401, 403, 404)


def listed_ids(response: Any) -> set[int]:
    data = response.json()
    rows = data.get("results", data.get("runs", data)) if isinstance(data, dict) else data
    return {row["id"] for row in rows if isinstance(row, dict) and "id" in row}


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=lambda v: str(v))
def test_permission_matrix(world: World, method: str, path: str) -> None:
    access = MATRIX[(method, path)]
    objects = team_a_objects(world)
    url, query = objects.url(path), objects.query.get(path, {})
    outcome = f"{method} {path} ({access.name})"

    # Anonymous: refused everywhere but the public operations.
    anon = call(APIClient(), method, url, query)
    if access in (A.PUBLIC, A.ANYONE):
        assert allowed(anon), (outcome, anon.status_code)
    else:
        assert anon.status_code in (401, 403), (outcome, anon.status_code)

    # Member of team A, admin.
    alice = call(world.alice.client, method, url, query)
    admin = call(world.admin.client, method, url, query)
    if access is A.ADMIN:
        assert alice.status_code == 403, (outcome, alice.status_code)
        assert allowed(admin), (outcome, admin.status_code, admin.content)
    elif access is A.OWN:
        assert allowed(alice), (outcome, alice.status_code, alice.content)
        assert admin.status_code == 404, (outcome, admin.status_code)
    else:
        assert allowed(alice), (outcome, alice.status_code, alice.content)
        assert allowed(admin), (outcome, admin.status_code, admin.content)

    # Member of team B: never reaches team A's objects, never creates in team A.
    bob = call(world.bob.client, method, url, query)
    if access in (A.TEAM, A.OWN):
        assert bob.status_code in (403, 404), (outcome, bob.status_code)
    elif access is A.ADMIN:
        assert bob.status_code == 403, (outcome, bob.status_code)
    elif access is A.CREATE_IN_TEAM:
        assert bob.status_code == 400 and "team" in bob.json(), (outcome, bob.content)
    elif access is A.SIGNED_IN:
        assert allowed(bob), (outcome, bob.status_code)
        hidden = objects.ids.get(path)
        if method == "GET" and path not in SHARED_LISTS and hidden is not None:
            assert hidden not in listed_ids(bob), (outcome, "team A's object listed to team B")

    _check_run_token(objects, access, method, path, url, query, outcome)


def _check_run_token(
    objects: Objects, access: Access, method: str, path: str, url: str, query: dict[str, Any], outcome: str
) -> None:
    """A run token of a run of team A: the allow-list on its own run, nothing else."""
    token = APIClient()
    token.credentials(HTTP_AUTHORIZATION=f"Token {objects.run_token}")
    as_token = call(token, method, url, query)
    if RunTokenRoute(method, resolve(url).url_name or "") in RUN_TOKEN_ALLOWED:
        assert allowed(as_token), (outcome, as_token.status_code, as_token.content)
        if path.startswith("/api/runs/{id}/"):
            other = url.replace(f"/{objects.ids['/api/runs/']}/", f"/{objects.other_run}/")
            elsewhere = call(token, method, other, query)
            assert elsewhere.status_code == 404, (outcome, "another run", elsewhere.status_code)
        elif method == "GET" and path == "/api/runs/":
            assert objects.other_run not in listed_ids(as_token), (outcome, "another run listed")
    elif access is A.PUBLIC:
        assert allowed(as_token), (outcome, as_token.status_code)
    else:
        assert as_token.status_code == 403, (outcome, as_token.status_code)
        assert RUN_TOKEN_DENIED in as_token.content.decode(), outcome
