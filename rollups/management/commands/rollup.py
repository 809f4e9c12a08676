"""``rollup``: close finished buckets now, or recompute closed ones (``--from``/``--to``)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from core.calendar import DAY, HOUR, local_midnight
from rollups import fill
from rollups.buckets import settle
from rollups.models import Granularity, Watermark, retention_horizon
from stats import cache as stats_cache
from stats.periods import PeriodError, parse_date
from websites.models import Website


def _pending(website: Website, granularity: str, now: dt.datetime) -> int:
    """About how many buckets a rollup of this website still has to close."""
    wm = Watermark.objects.filter(website=website, granularity=granularity).first()
    start = wm.closed_until if wm and wm.closed_until else fill.first_data(website)
    if start is None:
        return 0
    start = max(start, retention_horizon(granularity, now))
    step = HOUR if granularity == Granularity.HOUR else DAY
    return max(0, int((now - settle() - start) / step))


class Command(BaseCommand):
    help = (
        "Build or repair snapshots. Without options: close every finished hour and day not "
        "rolled up yet. With --from/--to: recompute the closed buckets of those local days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="from_", help="first local day, YYYY-MM-DD")
        parser.add_argument("--to", help="last local day, YYYY-MM-DD (inclusive)")
        parser.add_argument("--site", help="one website (tracking id); default all")
        parser.add_argument("--quiet", action="store_true")

    def handle(
        self,
        *args: Any,
        from_: str | None,
        to: str | None,
        site: str | None,
        quiet: bool,
        **options: Any,
    ) -> None:
        if bool(from_) != bool(to):
            raise CommandError("--from and --to go together")
        try:
            first = parse_date(from_, "--from") if from_ else None
            last = parse_date(to, "--to") if to else None
        except PeriodError as exc:
            raise CommandError(str(exc)) from None
        if first and last and first > last:
            raise CommandError("--from must not be after --to")
        websites = Website.objects.order_by("id")
        if site:
            websites = websites.filter(tracking_id=site)
            if not websites.exists():
                raise CommandError(f"no website with tracking id {site!r}")
        now = timezone.now()
        repaired = closed = 0
        for website in websites:
            total = sum(_pending(website, g, now) for g in (Granularity.HOUR, Granularity.DAY))
            with tqdm(
                total=total or None,
                unit="bucket",
                disable=quiet,
                file=sys.stderr,
                desc=website.domain,
            ) as bar:
                if first and last:
                    tz = website.tz
                    lo = local_midnight(first, tz)
                    hi = local_midnight(last + DAY, tz)
                    for granularity in (Granularity.HOUR, Granularity.DAY):
                        start = max(lo, retention_horizon(granularity, now))
                        repaired += fill.repair(
                            website, granularity, start, hi, now=now, progress=bar.update
                        )
                for granularity in (Granularity.HOUR, Granularity.DAY):
                    closed += fill.rollup(website, granularity, now=now, progress=bar.update)
                fill.catch_up(website, now=now)  # late buckets found meanwhile
            stats_cache.publish_versions(website.id)
        self.stdout.write(f"closed {closed} buckets, recomputed {repaired}")
