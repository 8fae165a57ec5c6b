"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Read by the settings: the web process pools its database connections.
os.environ.setdefault("RUNYARD_PROCESS", "web")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application() does


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain run as one sync call.

    Every view and middleware here is sync. Django's handler builds the chain in async
    mode: each of its sync-capable middleware (sessions, CSRF, auth, messages, …) then
    hops to the request's thread and back for its process_request/process_response, the
    project's sync-only middleware switch the chain back with async_to_sync, and the view
    is one more hop: about a dozen thread hand-offs per request, 2-3 ms of a run-list page
    (bench/run_list.py). Here the chain is built as under WSGI and entered once, in the
    same thread-sensitive executor Django would use; reading the body, sending the
    response (also streaming ones) and the request signals stay Django's."""

    def __init__(self) -> None:
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django_asgi = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.ws_auth import TokenOrSessionAuthMiddleware, origin_checked  # noqa: E402
from runs.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": origin_checked(TokenOrSessionAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)
