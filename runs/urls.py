from rest_framework.routers import SimpleRouter

from runs import api, workbench_api

router = SimpleRouter()
router.register("experiments", api.ExperimentViewSet, basename="experiment")
# Before "runs": RunViewSet's detail route would take /runs/bulk/ for a run id.
router.register("runs", workbench_api.RunWorkbenchViewSet, basename="run-workbench")
router.register("runs", api.RunViewSet, basename="run")
urlpatterns = router.urls
