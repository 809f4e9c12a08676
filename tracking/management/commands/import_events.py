from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from jobs.tasks import request_refresh
from tracking.importer import CHUNK, import_lines


class Command(BaseCommand):
    help = "Import NDJSON events (ingestion body + ts, ip, user_agent per line); '-' reads stdin."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("file")
        parser.add_argument("--chunk-size", type=int, default=CHUNK)
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args, file: str, chunk_size: int, quiet: bool, **options) -> None:  # type: ignore[no-untyped-def]
        if file == "-":
            stream = sys.stdin
            total = None
        else:
            try:
                stream = open(file, encoding="utf-8", errors="replace")  # noqa: SIM115
            except OSError as exc:
                raise CommandError(f"cannot read {file}: {exc.strerror}") from None
            total = os.path.getsize(file)
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

            def lines():  # type: ignore[no-untyped-def]
                for line in stream:
                    bar.update(len(line.encode("utf-8", "replace")))
                    yield line

            report = import_lines(lines(), chunk_size=chunk_size)
        for number, message in report.errors[:100]:
            self.stderr.write(f"line {number}: {message}")
        if len(report.errors) > 100:
            self.stderr.write(f"... and {len(report.errors) - 100} more bad lines")
        request_refresh(report.website_ids)
        dropped = ", ".join(f"{n} {reason}" for reason, n in report.dropped.items() if n)
        self.stdout.write(
            f"{report.lines} lines: {report.stored} events stored, "
            f"{len(report.errors)} rejected{', dropped: ' + dropped if dropped else ''}"
        )
