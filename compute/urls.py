from rest_framework.routers import SimpleRouter

from compute.api import ComputeTargetViewSet

router = SimpleRouter()
router.register("compute-targets", ComputeTargetViewSet, basename="compute-target")
urlpatterns = router.urls
