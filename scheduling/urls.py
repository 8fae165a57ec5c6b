from rest_framework.routers import SimpleRouter

from scheduling.api import ScheduleViewSet, TeamQuotaViewSet, UsageViewSet

router = SimpleRouter()
router.register("team-quotas", TeamQuotaViewSet, basename="team-quota")
router.register("schedule", ScheduleViewSet, basename="schedule")
router.register("usage", UsageViewSet, basename="usage")
urlpatterns = router.urls
