"""Retention: keep storage bounded however long a site runs (periodic, batched).

- Raw sessions and their events: deleted once older than ``RAW_RETENTION_DAYS`` *and* rolled
  up (before the daily watermark). A session is deleted with all its events once its last
  event is past the cutoff, so a session crossing the cutoff is kept whole.
- Hourly snapshots: after ``HOURLY_RETENTION_DAYS``. Daily (and monthly) snapshots: after
  ``DAILY_RETENTION_DAYS``.

Deletes run in batches of ``PRUNE_BATCH`` sessions, each its own short transaction, so
ingestion never waits long on them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from rollups.buckets import bucket_start
from rollups.models import Granularity, Snapshot, SnapshotRow, Watermark, retention_horizon
from tracking.models import Event, Session
from websites.models import Website

PRUNE_BATCH = 2000


@dataclass
class Pruned:
    sessions: int = 0
    events: int = 0
    snapshots: int = 0

    def __iadd__(self, other: Pruned) -> Pruned:
        self.sessions += other.sessions
        self.events += other.events
        self.snapshots += other.snapshots
        return self


def raw_cutoff(website: Website, now: dt.datetime) -> dt.datetime | None:
    """Raw data before this instant may go: old enough and rolled into daily snapshots."""
    wm = Watermark.objects.filter(website=website, granularity=Granularity.DAY).first()
    if wm is None or wm.closed_until is None:
        return None
    oldest_kept = now - dt.timedelta(days=settings.RAW_RETENTION_DAYS)
    return min(bucket_start(Granularity.DAY, oldest_kept, website.tz), wm.closed_until)


def prune_website(
    website: Website,
    *,
    now: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Pruned:
    """Apply retention to one website; returns what was deleted. Raw sessions go in
    batches, each its own transaction; snapshots past their horizon in one delete each."""
    now = now or timezone.now()
    out = Pruned()
    cutoff = raw_cutoff(website, now)
    if cutoff is not None:
        while True:
            with transaction.atomic():
                ids = list(
                    Session.objects.filter(
                        website=website, started_at__lt=cutoff, last_seen_at__lt=cutoff
                    ).values_list("id", flat=True)[:PRUNE_BATCH]
                )
                if not ids:
                    break
                out.events += Event.objects.filter(session_id__in=ids)._raw_delete("default")
                out.sessions += Session.objects.filter(id__in=ids)._raw_delete("default")
            if progress is not None:
                progress(len(ids))
        Watermark.objects.filter(website=website, granularity=Granularity.DAY).update(
            raw_pruned_before=cutoff
        )
    for granularity in (Granularity.HOUR, Granularity.DAY, Granularity.MONTH):
        horizon = retention_horizon(granularity, now)
        old = {"website": website, "granularity": granularity, "start__lt": horizon}
        out.snapshots += Snapshot.objects.filter(**old)._raw_delete("default")
        SnapshotRow.objects.filter(**old)._raw_delete("default")
    return out


def prune(
    *, now: dt.datetime | None = None, progress: Callable[[int], None] | None = None
) -> Pruned:
    """Apply retention to every website (``prune_website``); returns the totals."""
    total = Pruned()
    for website in Website.objects.all():
        total += prune_website(website, now=now, progress=progress)
    return total
