"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Read by the settings: the web process pools its database connections.
os.environ.setdefault("RUNYARD_PROCESS", "web")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application() does


class _RequestThread(ThreadPoolExecutor):
    """One request's thread (Django sends all of a request's sync work to one), counting
    the calls it has not finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self.unfinished = 0
        self._count = threading.Lock()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count:
            self.unfinished += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._count:
            self.unfinished -= 1


class RequestThreads:
    """Request threads kept for the next requests. Django's handler gives every request a
    new thread (asgiref's ThreadSensitiveContext makes one, then starts a second thread to
    join it): two thread starts and a join per request, ~1 ms of a run-list page on two
    busy cores (bench/run_list.py). A thread goes back only when nothing of its request
    still runs there (a view left running by a client's disconnect keeps its thread, which
    then ends), so a request never queues behind another's work."""

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self._idle: list[_RequestThread] = []
        self._lock = threading.Lock()

    def take(self) -> _RequestThread:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _RequestThread()

    def give(self, thread: _RequestThread) -> None:
        with self._lock:
            if thread.unfinished == 0 and len(self._idle) < self.keep:
                self._idle.append(thread)
                return
        thread.shutdown(wait=False)


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
        self.threads = RequestThreads()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # As Django's, with the request's thread from self.threads (ThreadSensitiveContext
        # with an executor leaves it running: the caller owns it).
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self.threads.take()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self.threads.give(thread)

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
