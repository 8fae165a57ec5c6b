from django.urls import path
from rest_framework.routers import SimpleRouter

from registry import api

router = SimpleRouter()
router.register("models", api.RegisteredModelViewSet, basename="model")
router.register("model-versions", api.ModelVersionViewSet, basename="model-version")
urlpatterns = [
    path("runs/<str:pk>/register-model/", api.RegisterFromRunView.as_view(), name="run-register-model"),
    *router.urls,
]
