from typing import Any

from django.core.management.base import BaseCommand

from stack.seed import ensure_admin, seed


class Command(BaseCommand):
    help = "Create the default team, datastore, local compute target and curated environments (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--admin", action="store_true", help="also create the admin user")

    def handle(self, *args: Any, **options: Any) -> None:
        for item in seed():
            self.stdout.write(f"created {item}")
        if options["admin"]:
            username, password = ensure_admin()
            self.stdout.write(f"admin user: {username} / {password or '(password set earlier)'}")
