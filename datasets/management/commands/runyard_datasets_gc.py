"""Remove dataset blobs no version references, stale upload temp files and trees of
deleted versions (left behind only when the store was busy or a process crashed), and
web files and derived trees (subsets, fetched web datasets) not used for a while."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from datasets import fetch, storage

DAY = 24 * 3600


class Command(BaseCommand):
    help = "Remove unreferenced dataset blobs, stale temp files and orphaned version trees."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--tmp-age", type=float, default=24 * 3600, help="seconds before a temp file is stale")
        parser.add_argument(
            "--unused-days",
            type=float,
            default=30,
            help="days unused before a cached web file or a derived tree (subset, web dataset) is removed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        counts = storage.gc(tmp_older_than=options["tmp_age"])
        age = options["unused_days"] * DAY
        counts.update(fetch.prune(age))
        counts["derived_trees"] = storage.prune_derived(age)
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
