from rest_framework.routers import SimpleRouter

from sweeps import api

router = SimpleRouter()
router.register("sweeps", api.SweepViewSet, basename="sweep")
urlpatterns = router.urls
