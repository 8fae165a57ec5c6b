"""Fixtures for dataset tests: a private dataset store and datastore root per test
(except live tests, whose worker process reads the real settings), and upload helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from datasets import mounts


@pytest.fixture(autouse=True)
def dataset_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """Point DATASET_DIR and DATASTORE_ROOTS at tmp_path, unless the test runs the live stack."""
    if "live" in request.fixturenames:
        yield Path(django_settings.RUNYARD["DATASET_DIR"])
        return
    settings = request.getfixturevalue("settings")
    store = tmp_path / "store"
    roots = tmp_path / "roots"
    roots.mkdir()
    default_root = Path(django_settings.DATA_DIR) / "datastores"
    settings.RUNYARD = {**settings.RUNYARD, "DATASET_DIR": store, "DATASTORE_ROOTS": [roots, default_root]}
    yield store
    mounts.unmount_under(tmp_path)


@pytest.fixture
def roots(dataset_store: Path) -> Path:
    return dataset_store.parent / "roots"
