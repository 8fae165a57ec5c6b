"""MLflow's artifacts proxy (``/api/2.0/mlflow-artifacts/artifacts/...``) over run artifacts.

A run's ``artifact_uri`` is ``mlflow-artifacts:/runs/<id>``; the client resolves it
against the tracking URI, so ``log_artifact`` PUTs ``.../artifacts/runs/<id>/<path>``,
downloads GET it, and listing GETs ``.../artifacts?path=runs/<id>/<dir>``. The files are
the run's Runyard artifacts (``runs.artifacts``): what the script wrote under outputs/
shows in MLflow as ``outputs/...``, what MLflow logged shows on the run's page."""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from rest_framework.request import Request
from rest_framework.response import Response

from common.archives import UnsafeArchive
from mlflow_api.access import get_run
from mlflow_api.errors import invalid, missing
from mlflow_api.views import SCHEMA, MlflowView
from runs import artifacts
from runs.models import Run


def _clean(path: str) -> str:
    try:
        return artifacts.clean_name(path, field="path")
    except UnsafeArchive as exc:
        raise invalid(str(exc)) from None


def listing(run: Run, directory: str) -> list[dict[str, Any]]:
    """The entries directly under ``directory`` (names relative to it, as MLflow's server
    answers); a file's own path lists that one file."""
    prefix = directory.strip("/")
    files: dict[str, dict[str, Any]] = {}
    for path, size in run.artifacts.order_by("path").values_list("path", "size"):
        if prefix and path == prefix:
            return [{"path": path.rsplit("/", 1)[-1], "is_dir": False, "file_size": size}]
        if prefix and not path.startswith(prefix + "/"):
            continue
        rest = path[len(prefix) + 1 :] if prefix else path
        head, sep, _tail = rest.partition("/")
        if sep:
            files.setdefault(head, {"path": head, "is_dir": True})
        else:
            files[head] = {"path": head, "is_dir": False, "file_size": size}
    return [files[name] for name in sorted(files)]


class ListArtifacts(MlflowView):
    """``?path=runs/<id>[/dir]``."""

    @SCHEMA
    def get(self, request: Request) -> Response:
        path = str(request.query_params.get("path") or "").strip("/")
        head, _, rest = path.partition("/")
        run_id, _, directory = rest.partition("/")
        if head != "runs" or not run_id:
            raise invalid(f"Invalid path {path!r}: artifacts are listed as runs/<run id>[/<dir>].")
        run = get_run(request, run_id)
        return Response({"files": listing(run, _clean(directory) if directory else "")})


class TrackingListArtifacts(MlflowView):
    """The tracking API's own listing (``/api/2.0/mlflow/artifacts/list?run_id=&path=``)."""

    @SCHEMA
    def get(self, request: Request) -> Response:
        run = get_run(request, str(request.query_params.get("run_id") or request.query_params.get("run_uuid") or ""))
        directory = str(request.query_params.get("path") or "").strip("/")
        found = listing(run, _clean(directory) if directory else "")
        files = [{**f, "path": f"{directory}/{f['path']}" if directory else f["path"]} for f in found]
        return Response({"root_uri": f"mlflow-artifacts:/runs/{run.pk}", "files": files})


class ArtifactFile(MlflowView):
    """GET downloads a file, PUT uploads one (the request body is the file)."""

    parser_classes: list[Any] = []  # the body is the file itself: streamed, never parsed

    @SCHEMA
    def get(self, request: Request, pk: int, path: str) -> FileResponse:
        run = get_run(request, str(pk))
        rel = _clean(path)
        art = run.artifacts.filter(path=rel).first()
        if art is None:
            raise missing(f"No artifact '{rel}' on run {run.pk}.")
        return FileResponse(open(artifacts.file_of(art), "rb"), content_type="application/octet-stream")

    @SCHEMA
    def put(self, request: Request, pk: int, path: str) -> Response:
        run = get_run(request, str(pk))
        try:
            artifacts.save_upload(run, path, request._request)  # type: ignore[arg-type]  # file-like: read()
        except UnsafeArchive as exc:
            raise invalid(str(exc)) from None
        return Response({})
