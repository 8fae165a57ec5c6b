"""Remove dataset blobs no version references, stale upload temp files and trees of
deleted versions (left behind only when the store was busy or a process crashed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from datasets import storage


class Command(BaseCommand):
    help = "Remove unreferenced dataset blobs, stale temp files and orphaned version trees."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tmp-age", type=float, default=24 * 3600, help="seconds before a temp file is stale")

    def handle(self, *args: Any, **options: Any) -> None:
        counts = storage.gc(tmp_older_than=options["tmp_age"])
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
