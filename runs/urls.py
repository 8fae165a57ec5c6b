from rest_framework.routers import SimpleRouter

from runs import api

router = SimpleRouter()
router.register("experiments", api.ExperimentViewSet, basename="experiment")
router.register("runs", api.RunViewSet, basename="run")
urlpatterns = router.urls
