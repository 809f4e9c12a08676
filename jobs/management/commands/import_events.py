"""``import_events``: load an NDJSON file of events, then bring rollups and dashboards up
to date (the import itself is ``tracking.importer``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max, Min
from tqdm import tqdm

from jobs.tasks import request_refresh
from rollups.fill import mark_dirty
from tracking.importer import CHUNK, import_lines
from tracking.models import Event
from websites.models import Website


class Command(BaseCommand):
    help = "Import NDJSON events (ingestion body + ts, ip, user_agent per line); '-' reads stdin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--chunk-size", type=int, default=CHUNK)
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        file: str = options["file"]
        chunk_size: int = options["chunk_size"]
        quiet: bool = options["quiet"]
        stream: TextIO
        if file == "-":
            stream = sys.stdin
            total = None
        else:
            try:
                stream = open(file, encoding="utf-8", errors="replace")
            except OSError as exc:
                raise CommandError(f"cannot read {file}: {exc.strerror}") from None
            total = os.path.getsize(file)
        last_id = Event.objects.aggregate(m=Max("id"))["m"] or 0
        with (
            stream,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                disable=quiet,
                file=sys.stderr,
                desc="import",
            ) as bar,
        ):

            def lines() -> Iterator[str]:
                for line in stream:
                    bar.update(len(line.encode("utf-8", "replace")))
                    yield line

            report = import_lines(lines(), chunk_size=chunk_size)
        for number, message in report.errors[:100]:
            self.stderr.write(f"line {number}: {message}")
        if len(report.errors) > 100:
            self.stderr.write(f"... and {len(report.errors) - 100} more bad lines")
        # Imported events may belong to buckets already rolled up: recompute from there.
        for website in Website.objects.filter(id__in=report.website_ids):
            earliest = Event.objects.filter(website=website, id__gt=last_id).aggregate(
                t=Min("created_at")
            )["t"]
            if earliest is not None:
                mark_dirty(website, earliest)
        request_refresh(report.website_ids)
        dropped = ", ".join(f"{n} {reason}" for reason, n in report.dropped.items() if n)
        self.stdout.write(
            f"{report.lines} lines: {report.stored} events stored, "
            f"{len(report.errors)} rejected{', dropped: ' + dropped if dropped else ''}"
        )
