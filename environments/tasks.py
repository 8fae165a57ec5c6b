"""Building an environment ahead of any run (``env.build(ws)`` / the Build button)."""

from __future__ import annotations

import logging

from celery import shared_task

from compute.models import ComputeTarget
from environments.builds import BuildCanceled, BuildFailed
from environments.models import EnvironmentVersion
from execution.backends import get_backend

log = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def build_environment(version_id: int, target_id: int) -> str:
    """Runs on the target's own queue, so the build lands where its runs will use it.
    A failed build is recorded on its EnvironmentBuild row (status, error, log)."""
    version = EnvironmentVersion.objects.select_related("environment").get(pk=version_id)
    target = ComputeTarget.objects.get(pk=target_id)
    try:
        get_backend(target.kind).build_environment(version, target.typed_config)
    except (BuildFailed, BuildCanceled) as exc:
        log.info("build of %s on %s failed: %s", version, target.name, exc)
        return "failed"
    return "succeeded"
