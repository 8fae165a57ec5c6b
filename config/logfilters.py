"""Logging filters shared by every process."""

from __future__ import annotations

import logging

# Beat runs these every few seconds; Celery's "received"/"succeeded" lines for them would
# bury everything else in the worker's console.
HOUSEKEEPING_TASKS = ("runs.tasks.sweep_heartbeats", "runs.tasks.sweep_queues")


class QuietHousekeeping(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery."):
            return True
        message = record.getMessage()
        return not any(task in message for task in HOUSEKEEPING_TASKS)
