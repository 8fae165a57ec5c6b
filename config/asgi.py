"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Read by the settings: the web process pools its database connections.
os.environ.setdefault("RUNYARD_PROCESS", "web")
django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.ws_auth import TokenOrSessionAuthMiddleware, origin_checked  # noqa: E402
from runs.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": origin_checked(TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
