"""Filling snapshots: close finished buckets, refresh open ones, repair the ones data changed.

Every write replaces a whole bucket (its ``Snapshot`` and all its ``SnapshotRow``) inside
one transaction that holds the website's watermark row lock (``Watermark.locked``), so a
crash leaves the previous state, two concurrent runs serialise, and a rerun writes the same
numbers again. What a bucket holds is computed by ``rollups.buckets``.

A bucket *closes* (and the watermark moves past it) once its end is ``SESSION_IDLE_MINUTES``
in the past: by then the sessions that started in it have almost always ended. One that
goes on (or an import of old events) makes the bucket *late*: ``find_late`` notices it and
``mark_dirty`` moves the watermark back so the next rollup recomputes from there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.db.models import Max, Min
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from core.calendar import DAY, local_day, local_midnight, next_month
from rollups.buckets import (
    Contents,
    bucket_snapshot,
    bucket_start,
    iter_buckets,
    month_snapshot,
    settle,
)
from rollups.incremental import drop_parts, reader_for, refresh_bucket
from rollups.models import Granularity, Snapshot, SnapshotRow, Watermark, retention_horizon
from tracking.models import Event, Session
from websites.models import Website

ALL = (Granularity.HOUR, Granularity.DAY, Granularity.MONTH)
Progress = Callable[[int], None]


def _replace(
    website: Website,
    granularity: str,
    start: dt.datetime,
    contents: Contents | None,
    *,
    batch_size: int = 500,
) -> None:
    # Call inside Watermark.locked(): the bucket and the watermark change commit together.
    Snapshot.objects.filter(website=website, granularity=granularity, start=start).delete()
    SnapshotRow.objects.filter(website=website, granularity=granularity, start=start).delete()
    if contents is None:
        return  # an empty bucket is no row: zero everywhere
    snapshot, rows = contents
    snapshot.save(force_insert=True)
    SnapshotRow.objects.bulk_create(rows, batch_size=batch_size)


def _recompute(
    website: Website, granularity: str, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> None:
    _replace(website, granularity, start, bucket_snapshot(website, granularity, start, end, now))


def first_data(website: Website) -> dt.datetime | None:
    """The earliest session start or event time of the website (None without data)."""
    started = Session.objects.filter(website=website).aggregate(t=Min("started_at"))["t"]
    created = Event.objects.filter(website=website).aggregate(t=Min("created_at"))["t"]
    found = [t for t in (started, created) if t is not None]
    return min(found) if found else None


def rollup(
    website: Website,
    granularity: str,
    *,
    now: dt.datetime | None = None,
    until: dt.datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Close every finished bucket after the watermark (up to ``until``); returns how many.

    A bucket is finished once its end is ``SESSION_IDLE_MINUTES`` in the past. Each bucket
    is one transaction; the watermark only moves on from where this run expects it. If
    it moved meanwhile (a concurrent run, or a late event that moved it back), the run
    starts again from the new watermark. Rolling up days also closes finished months.
    """
    now = now or timezone.now()
    limit = now - settle()
    if until is not None:
        limit = min(limit, until)
    done = 0
    while True:
        count, finished = _rollup_pass(website, granularity, now, limit, progress)
        done += count
        if finished:
            break
    if granularity == Granularity.DAY:
        done += roll_months(website, now=now)
    return done


def catch_up(website: Website, *, now: dt.datetime | None = None) -> int:
    """Repair the late buckets (``find_late``), then close every finished hour and day (and
    month); returns how many buckets were closed."""
    find_late(website, now=now)
    return sum(rollup(website, g, now=now) for g in (Granularity.HOUR, Granularity.DAY))


def _rollup_pass(
    website: Website,
    granularity: str,
    now: dt.datetime,
    limit: dt.datetime,
    progress: Progress | None,
) -> tuple[int, bool]:
    tz = website.tz
    wm, _ = Watermark.objects.get_or_create(website=website, granularity=granularity)
    expected = wm.closed_until
    horizon = bucket_start(granularity, retention_horizon(granularity, now), tz)
    if expected is None:
        first = first_data(website)
        if first is None:
            return 0, True
        start = max(bucket_start(granularity, first, tz), horizon)
    else:
        start = max(expected, horizon)
    done = 0
    for b, e in iter_buckets(granularity, start, limit, tz):
        if e > limit:
            break
        with Watermark.locked(website, granularity) as wm:
            if wm.closed_until != expected:
                return done, False  # moved meanwhile: start again from there
            if wm.has_raw(b):
                _recompute(website, granularity, b, e, now)  # else raw is gone: keep it
            wm.close_through(b, e)
            drop_parts(website, granularity, until=e)
        expected = e
        done += 1
        if progress is not None:
            progress(1)
    return done, True


def repair(
    website: Website,
    granularity: str,
    first: dt.datetime,
    last: dt.datetime,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> int:
    """Recompute the closed buckets between ``first`` and ``last`` (``rollup --from --to``);
    returns how many. Buckets whose raw data is pruned are kept as they are."""
    now = now or timezone.now()
    tz = website.tz
    done = 0
    for b, e in iter_buckets(granularity, first, last, tz):
        with Watermark.locked(website, granularity) as wm:
            if not wm.is_closed(b):
                break  # not closed yet: the normal rollup closes it
            if not wm.has_raw(b):
                continue
            _recompute(website, granularity, b, e, now)
            wm.bump(repair=True)
        done += 1
        if progress is not None:
            progress(1)
    if done and granularity == Granularity.DAY:
        mark_dirty(website, first, granularities=(Granularity.MONTH,))
        roll_months(website, now=now)
    return done


def refresh_open(website: Website, *, now: dt.datetime | None = None) -> int:
    """Bring the buckets that are not closed yet (the open hour and day, and the ones
    waiting to settle) up to date, without moving the watermark; returns how many. Each
    absorbs what changed since its last refresh (``rollups.incremental``). Called by the
    debounced refresh job."""
    now = now or timezone.now()
    tz = website.tz
    buckets = []
    for granularity in (Granularity.HOUR, Granularity.DAY):
        wm, _ = Watermark.objects.get_or_create(website=website, granularity=granularity)
        open_start = bucket_start(granularity, now, tz)
        start = (
            open_start
            if wm.closed_until is None
            else max(wm.closed_until, bucket_start(granularity, now - settle() - DAY, tz))
        )
        for b, e in iter_buckets(granularity, min(start, open_start), now, tz):
            buckets.append((granularity, b, e))
    if not buckets:
        return 0
    reader = reader_for(website, min(b for _, b, _ in buckets), now)
    done = 0
    for granularity, b, e in buckets:
        with Watermark.locked(website, granularity) as wm:
            if wm.is_closed(b):
                continue
            refresh_bucket(website, granularity, b, e, now, reader)
            wm.bump()
        done += 1
    return done


def mark_dirty(website: Website, instant: dt.datetime, granularities: Iterable[str] = ALL) -> None:
    """Data at ``instant`` changed after its buckets closed: move the watermarks back to the
    bucket holding it (not before the raw data still kept)."""
    tz = website.tz
    for granularity in granularities:
        b = bucket_start(granularity, instant, tz)
        with Watermark.locked(website, granularity) as wm:
            # Older events in an open bucket: its running totals are rebuilt.
            drop_parts(website, granularity, since=b)
            if not wm.is_closed(b):
                continue
            pruned = wm.raw_pruned_before
            if pruned is not None and b < pruned:
                b = bucket_start(granularity, pruned, tz)
                if not wm.is_closed(b):
                    continue
            wm.move_back(b)


def definitions_changed(website: Website) -> None:
    """Goals or funnels changed: every cached answer of the website expires (its keys hold
    the daily version and repair count)."""
    with Watermark.locked(website, Granularity.DAY) as wm:
        wm.bump(repair=True)
        drop_parts(website, Granularity.DAY)


def find_late(website: Website, *, now: dt.datetime | None = None) -> list[dt.datetime]:
    """Closed buckets of the last two days whose sessions were seen after the bucket was
    computed; marks them dirty and returns the earliest bucket start per granularity."""
    now = now or timezone.now()
    tz = website.tz
    found = []
    for granularity, trunc in (
        (Granularity.HOUR, TruncHour("started_at", tzinfo=dt.UTC)),
        (Granularity.DAY, TruncDate("started_at", tzinfo=tz)),
    ):
        wm = Watermark.objects.filter(website=website, granularity=granularity).first()
        if wm is None or wm.closed_until is None:
            continue
        since = max(wm.closed_until - 2 * DAY, now - 3 * DAY)
        seen = {
            (
                bucket_start(granularity, r["b"], tz)
                if granularity == Granularity.HOUR
                else local_midnight(r["b"], tz)
            ): r["seen"]
            for r in Session.objects.filter(
                website=website, started_at__gte=since, started_at__lt=wm.closed_until
            )
            .annotate(b=trunc)
            .values("b")
            .annotate(seen=Max("last_seen_at"))
        }
        if not seen:
            continue
        computed = dict(
            Snapshot.objects.filter(
                website=website, granularity=granularity, start__in=list(seen)
            ).values_list("start", "computed_at")
        )
        late = [b for b, t in seen.items() if b not in computed or t > computed[b]]
        if late:
            earliest = min(late)
            mark_dirty(website, earliest)
            found.append(earliest)
    return found


def roll_months(website: Website, *, now: dt.datetime | None = None) -> int:
    """Close every local month whose days are all closed (and covered by daily snapshots);
    returns how many. A month is the sum of its daily snapshots."""
    now = now or timezone.now()
    tz = website.tz
    done = 0
    while True:  # once more each time the monthly watermark moved meanwhile
        day = Watermark.objects.filter(website=website, granularity=Granularity.DAY).first()
        if day is None or day.closed_until is None or day.covered_from is None:
            return done
        wm, _ = Watermark.objects.get_or_create(website=website, granularity=Granularity.MONTH)
        expected = wm.closed_until
        first_day = local_day(day.covered_from, tz)
        month = first_day.replace(day=1)
        if month != first_day:
            month = next_month(month)  # a month partly before the first daily bucket: no
        if expected is not None:
            month = max(month, local_day(expected, tz))
        while True:
            a, b = local_midnight(month, tz), local_midnight(next_month(month), tz)
            if b > day.closed_until:
                return done
            with Watermark.locked(website, Granularity.MONTH) as wm:
                if wm.closed_until != expected:
                    break
                contents = month_snapshot(website, a, b, now)
                _replace(website, Granularity.MONTH, a, contents, batch_size=1000)
                wm.close_through(a, b)
            expected = b
            done += 1
            month = next_month(month)
