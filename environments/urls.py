from rest_framework.routers import SimpleRouter

from environments import api, index_api, team_secrets

router = SimpleRouter()
router.register("environments", api.EnvironmentViewSet, basename="environment")
router.register("environment-versions", api.EnvironmentVersionViewSet, basename="environment-version")
router.register("environment-builds", api.EnvironmentBuildViewSet, basename="environment-build")
router.register("package-indexes", index_api.PackageIndexViewSet, basename="package-index")
router.register("team-secrets", team_secrets.TeamSecretViewSet, basename="team-secret")
urlpatterns = router.urls
