from rest_framework.routers import SimpleRouter

from datasets import api

router = SimpleRouter()
router.register("datastores", api.DatastoreViewSet, basename="datastore")
router.register("datasets", api.DatasetViewSet, basename="dataset")
router.register("dataset-versions", api.DatasetVersionViewSet, basename="dataset-version")
urlpatterns = router.urls
