"""The one Redis client of a process for Runyard's own keys (dispatch marks, worker
liveness); Celery and Channels keep their own connections."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    # Bounded timeouts: a Redis restart must fail a call quickly, not hang a worker.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
