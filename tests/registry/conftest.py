"""Model tests keep their blobs in a private store per test, as dataset tests do."""

from tests.datasets.conftest import dataset_store, roots  # noqa: F401 - fixtures
