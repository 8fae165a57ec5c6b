from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts import api

router = SimpleRouter()
router.register("tokens", api.TokenViewSet, basename="token")
router.register("teams", api.TeamViewSet, basename="team")

urlpatterns = [
    path("token/", api.ObtainTokenView.as_view(), name="obtain-token"),
    path("session/", api.SessionView.as_view(), name="session"),
    *router.urls,
]
