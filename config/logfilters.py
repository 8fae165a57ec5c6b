"""Logging filters shared by every process."""

from __future__ import annotations

import logging
import re

# Beat runs these every few seconds; Celery's "received"/"succeeded" lines for them would
# bury everything else in the worker's console.
HOUSEKEEPING_TASKS = ("execution.tasks.sweep_heartbeats", "execution.tasks.sweep_queues")


class QuietHousekeeping(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery."):
            return True
        message = record.getMessage()
        return not any(task in message for task in HOUSEKEEPING_TASKS)


# A token in a URL (?token=… or any ry_/ryr_ key) would sit in the server's log for
# anyone who reads it. uvicorn logs every websocket's path with its query string,
# access log or not.
_URL_SECRET = re.compile(r"(?i)([?&](?:token|access_token|api_key|key)=)[^&\s\"']+")
_KEY = re.compile(r"\b(ryr?_)[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    return _KEY.sub(r"\1***", _URL_SECRET.sub(r"\1***", text))


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
