from django.urls import path

from runs.consumers import RunConsumer, TeamRunsConsumer

websocket_urlpatterns = [
    path("ws/runs/", TeamRunsConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
]
