from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run a job consumer (add --scheduler on exactly one host to run periodic jobs)."
    # System checks would import every URL module (allauth, the User-Agent parser, ...):
    # ~40 MB a job consumer never uses. `serve` and `migrate` run the checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scheduler", action="store_true", help="also run periodic jobs")
        parser.add_argument("--concurrency", type=int, default=settings.WORKER_CONCURRENCY)

    def handle(self, *args: Any, **options: Any) -> None:
        scheduler: bool = options["scheduler"]
        concurrency: int = options["concurrency"]
        call_command(
            "run_huey",
            workers=concurrency,
            worker_type="thread",
            periodic=scheduler,
            # Locks left by a killed consumer would block their task forever; the one
            # scheduling consumer clears them at start.
            flush_locks=scheduler,
        )
