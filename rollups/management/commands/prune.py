"""``prune``: apply retention now (``rollups.retention``)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from rollups.retention import prune


class Command(BaseCommand):
    help = (
        "Apply retention now: raw data older than RAW_RETENTION_DAYS (only once rolled up), "
        "hourly snapshots after HOURLY_RETENTION_DAYS, daily after DAILY_RETENTION_DAYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, quiet: bool, **options: Any) -> None:
        with tqdm(unit="session", disable=quiet, file=sys.stderr, desc="prune") as bar:
            pruned = prune(progress=bar.update)
        self.stdout.write(
            f"deleted {pruned.sessions} sessions, {pruned.events} events, "
            f"{pruned.snapshots} snapshots"
        )
