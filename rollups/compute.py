"""Rolling raw data into snapshots: recompute a bucket from raw data and replace it.

Every write replaces a whole bucket (its ``Snapshot`` and all its ``SnapshotRow``) inside
one transaction that holds the website's watermark row lock, so a crash leaves the previous
state, two concurrent runs serialise, and a rerun writes the same numbers again. Buckets
are computed with ``stats.raw``, the same code the raw read path uses, so a snapshot answer
equals the raw answer by construction.

A bucket *closes* (and the watermark moves past it) once its end is ``SESSION_IDLE_MINUTES``
in the past: by then the sessions that started in it have almost always ended. One that
goes on (or an import of old events) makes the bucket *late*: ``find_late`` notices it and
``mark_dirty`` moves the watermark back so the next rollup recomputes from there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Min, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from rollups.models import Granularity, Snapshot, SnapshotRow, Watermark
from stats import raw
from stats.filters import NO_FILTERS
from tracking.models import Event, Session
from websites.models import Website

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
# Stored dimension name -> breakdown name used by stats.raw (``page`` counts page views).
DIMENSIONS: dict[str, str] = {
    "page": "pages",
    "entry_page": "entry_pages",
    "exit_page": "exit_pages",
    "source": "sources",
    "utm_source": "utm_sources",
    "utm_medium": "utm_mediums",
    "utm_campaign": "utm_campaigns",
    "browser": "browsers",
    "os": "os",
    "device": "devices",
}


def settle() -> dt.timedelta:
    return dt.timedelta(minutes=settings.SESSION_IDLE_MINUTES)


# --- buckets ----------------------------------------------------------------------------


def bucket_start(granularity: str, instant: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The start (aware UTC) of the bucket holding ``instant``."""
    if granularity == Granularity.HOUR:
        return instant.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return local_midnight(instant.astimezone(tz).date(), tz)


def bucket_end(granularity: str, start: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    if granularity == Granularity.HOUR:
        return start + HOUR
    return local_midnight(start.astimezone(tz).date() + DAY, tz)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def iter_buckets(granularity: str, start: dt.datetime, end: dt.datetime,
                 tz: ZoneInfo) -> Iterator[tuple[dt.datetime, dt.datetime]]:  # fmt: skip
    """Buckets (start, end) from the one holding ``start`` while they start before ``end``."""
    b = bucket_start(granularity, start, tz)
    while b < end:
        e = bucket_end(granularity, b, tz)
        yield b, e
        b = e


# --- computing one bucket ---------------------------------------------------------------


def compute(
    website: Website, start: dt.datetime, end: dt.datetime
) -> tuple[dict, list[SnapshotRow]]:
    """The summary and the rows of ``[start, end)`` from raw data (nothing is written)."""
    summary = raw.summary(website.id, start, end, NO_FILTERS)
    rows: list[SnapshotRow] = []
    if summary["sessions"] == 0 and summary["pageviews"] == 0:
        return summary, rows
    for path, (pageviews, visitors) in raw.page_rows(website.id, start, end, NO_FILTERS,
                                                     website.tz).items():  # fmt: skip
        rows.append(SnapshotRow(dimension="page", value=path, pageviews=pageviews,
                                visitors=visitors))  # fmt: skip
    for stored, dimension in DIMENSIONS.items():
        if stored == "page":
            continue
        for value, (pv, v, n, b, d, x) in raw.session_rows(website.id, start, end, NO_FILTERS,
                                                           dimension).items():  # fmt: skip
            rows.append(SnapshotRow(dimension=stored, value=value, pageviews=pv, visitors=v,
                                    sessions=n, bounces=b, duration_s=d, exits=x))  # fmt: skip
    return summary, rows


def _replace(website: Website, granularity: str, start: dt.datetime, end: dt.datetime,
             now: dt.datetime) -> None:  # fmt: skip
    """Recompute one bucket and replace what is stored (call inside the locked transaction)."""
    summary, rows = compute(website, start, end)
    Snapshot.objects.filter(website=website, granularity=granularity, start=start).delete()
    SnapshotRow.objects.filter(website=website, granularity=granularity, start=start).delete()
    if not rows and not summary["sessions"] and not summary["pageviews"]:
        return  # an empty bucket is no row: zero everywhere
    Snapshot.objects.create(
        website=website, granularity=granularity, start=start, computed_at=now,
        pageviews=summary["pageviews"], visitors=summary["visitors"],
        sessions=summary["sessions"], bounces=summary["bounces"],
        duration_s=summary["total_duration_s"], session_pageviews=summary["session_pageviews"],
        exits=summary["exits"],
    )  # fmt: skip
    for row in rows:
        row.website = website
        row.granularity = granularity
        row.start = start
    SnapshotRow.objects.bulk_create(rows, batch_size=500)


def _locked(website: Website, granularity: str) -> Watermark:
    Watermark.objects.get_or_create(website=website, granularity=granularity)
    return Watermark.objects.select_for_update().get(website=website, granularity=granularity)


# --- rolling up -------------------------------------------------------------------------


def first_data(website: Website) -> dt.datetime | None:
    started = Session.objects.filter(website=website).aggregate(t=Min("started_at"))["t"]
    created = Event.objects.filter(website=website).aggregate(t=Min("created_at"))["t"]
    found = [t for t in (started, created) if t is not None]
    return min(found) if found else None


def retention_horizon(granularity: str, now: dt.datetime) -> dt.datetime:
    if granularity == Granularity.HOUR:
        return now - dt.timedelta(days=settings.HOURLY_RETENTION_DAYS)
    return now - dt.timedelta(days=settings.DAILY_RETENTION_DAYS)


def rollup(website: Website, granularity: str, *, now: dt.datetime | None = None,
           until: dt.datetime | None = None,
           progress: Callable[[int], None] | None = None) -> int:  # fmt: skip
    """Close every finished bucket after the watermark (up to ``until``); returns how many.

    A bucket is finished once its end is ``SESSION_IDLE_MINUTES`` in the past. Each bucket
    is one transaction; the watermark only moves on from where this run expects it. If
    it moved meanwhile (a concurrent run, or a late event that moved it back), the run
    starts again from the new watermark.
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


def _rollup_pass(website: Website, granularity: str, now: dt.datetime, limit: dt.datetime,
                 progress: Callable[[int], None] | None) -> tuple[int, bool]:  # fmt: skip
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
        with transaction.atomic():
            wm = _locked(website, granularity)
            if wm.closed_until != expected:
                return done, False  # moved meanwhile: start again from there
            if wm.raw_pruned_before is None or b >= wm.raw_pruned_before:
                _replace(website, granularity, b, e, now)  # else raw is gone: keep it
            wm.closed_until = expected = e
            if wm.covered_from is None or b < wm.covered_from:
                wm.covered_from = b
            wm.version = F("version") + 1
            wm.save(update_fields=["closed_until", "covered_from", "version"])
        done += 1
        if progress is not None:
            progress(1)
    return done, True


def repair(website: Website, granularity: str, first: dt.datetime, last: dt.datetime, *,
           now: dt.datetime | None = None,
           progress: Callable[[int], None] | None = None) -> int:  # fmt: skip
    """Recompute the closed buckets between ``first`` and ``last`` (``rollup --from --to``)."""
    now = now or timezone.now()
    tz = website.tz
    done = 0
    for b, e in iter_buckets(granularity, first, last, tz):
        with transaction.atomic():
            wm = _locked(website, granularity)
            if wm.closed_until is None or b >= wm.closed_until:
                break  # not closed yet: the normal rollup closes it
            if wm.raw_pruned_before is not None and b < wm.raw_pruned_before:
                continue
            _replace(website, granularity, b, e, now)
            wm.version = F("version") + 1
            wm.repairs = F("repairs") + 1
            wm.save(update_fields=["version", "repairs"])
        done += 1
        if progress is not None:
            progress(1)
    if done and granularity == Granularity.DAY:
        mark_dirty(website, first, granularities=(Granularity.MONTH,))
        roll_months(website, now=now)
    return done


def refresh_open(website: Website, *, now: dt.datetime | None = None) -> int:
    """Recompute the buckets that are not closed yet (the open hour and day, and the ones
    waiting to settle), without moving the watermark. Called by the debounced job."""
    now = now or timezone.now()
    tz = website.tz
    done = 0
    for granularity in (Granularity.HOUR, Granularity.DAY):
        wm, _ = Watermark.objects.get_or_create(website=website, granularity=granularity)
        open_start = bucket_start(granularity, now, tz)
        start = (
            open_start
            if wm.closed_until is None
            else max(wm.closed_until, bucket_start(granularity, now - settle() - DAY, tz))
        )
        for b, e in iter_buckets(granularity, min(start, open_start), now, tz):
            with transaction.atomic():
                wm = _locked(website, granularity)
                if wm.closed_until is not None and b < wm.closed_until:
                    continue
                _replace(website, granularity, b, e, now)
                wm.version = F("version") + 1
                wm.save(update_fields=["version"])
            done += 1
    return done


ALL = (Granularity.HOUR, Granularity.DAY, Granularity.MONTH)


def mark_dirty(website: Website, instant: dt.datetime, granularities=ALL) -> None:  # type: ignore[no-untyped-def]
    """Data at ``instant`` changed after its buckets closed: move the watermarks back."""
    tz = website.tz
    for granularity in granularities:
        if granularity == Granularity.MONTH:
            b = local_midnight(instant.astimezone(tz).date().replace(day=1), tz)
        else:
            b = bucket_start(granularity, instant, tz)
        with transaction.atomic():
            wm = _locked(website, granularity)
            if wm.closed_until is None or wm.closed_until <= b:
                continue
            if wm.raw_pruned_before is not None and b < wm.raw_pruned_before:
                b = bucket_start(granularity, wm.raw_pruned_before, tz)
                if wm.closed_until <= b:
                    continue
            wm.closed_until = b
            wm.version = F("version") + 1
            wm.repairs = F("repairs") + 1
            wm.save(update_fields=["closed_until", "version", "repairs"])


def find_late(website: Website, *, now: dt.datetime | None = None) -> list[dt.datetime]:
    """Closed buckets of the last two days whose sessions were seen after the bucket was
    computed; marks them dirty and returns the earliest bucket start per granularity."""
    now = now or timezone.now()
    tz = website.tz
    found = []
    for granularity, trunc in ((Granularity.HOUR, TruncHour("started_at", tzinfo=dt.UTC)),
                               (Granularity.DAY, TruncDate("started_at", tzinfo=tz))):  # fmt: skip
        wm = Watermark.objects.filter(website=website, granularity=granularity).first()
        if wm is None or wm.closed_until is None:
            continue
        since = max(wm.closed_until - 2 * DAY, now - 3 * DAY)
        seen = {
            (bucket_start(granularity, r["b"], tz) if granularity == Granularity.HOUR
             else local_midnight(r["b"], tz)): r["seen"]
            for r in Session.objects.filter(
                website=website, started_at__gte=since, started_at__lt=wm.closed_until
            ).annotate(b=trunc).values("b").annotate(seen=Max("last_seen_at"))
        }  # fmt: skip
        if not seen:
            continue
        computed = dict(
            Snapshot.objects.filter(website=website, granularity=granularity,
                                    start__in=list(seen)).values_list("start", "computed_at")
        )  # fmt: skip
        late = [b for b, t in seen.items() if b not in computed or t > computed[b]]
        if late:
            earliest = min(late)
            mark_dirty(website, earliest)
            found.append(earliest)
    return found


# --- months: sums of closed days -------------------------------------------------------

_ROW_SUMS = ("pageviews", "visitors", "sessions", "bounces", "duration_s", "exits")
_SNAP_SUMS = ("pageviews", "visitors", "sessions", "bounces", "duration_s",
              "session_pageviews", "exits")  # fmt: skip


def _replace_month(website: Website, start: dt.datetime, end: dt.datetime,
                   now: dt.datetime) -> None:  # fmt: skip
    """A month's snapshot and rows as the sums of its daily ones (call inside the lock)."""
    days = {"website": website, "granularity": Granularity.DAY, "start__gte": start,
            "start__lt": end}  # fmt: skip
    Snapshot.objects.filter(website=website, granularity=Granularity.MONTH, start=start).delete()
    SnapshotRow.objects.filter(website=website, granularity=Granularity.MONTH,
                               start=start).delete()  # fmt: skip
    totals = Snapshot.objects.filter(**days).aggregate(**{f: Sum(f) for f in _SNAP_SUMS})
    if totals["pageviews"] is None:
        return  # no day with data
    Snapshot.objects.create(website=website, granularity=Granularity.MONTH, start=start,
                            computed_at=now, **{k: v or 0 for k, v in totals.items()})  # fmt: skip
    rows = [
        SnapshotRow(
            website=website,
            granularity=Granularity.MONTH,
            start=start,
            dimension=r["dimension"],
            value=r["value"],
            **{f: r[f"s_{f}"] or 0 for f in _ROW_SUMS},
        )  # fmt: skip
        for r in SnapshotRow.objects.filter(**days)
        .values("dimension", "value")
        .annotate(**{f"s_{f}": Sum(f) for f in _ROW_SUMS})
    ]
    SnapshotRow.objects.bulk_create(rows, batch_size=1000)


def roll_months(website: Website, *, now: dt.datetime | None = None) -> int:
    """Close every local month whose days are all closed (and covered by daily snapshots)."""
    now = now or timezone.now()
    tz = website.tz
    done = 0
    while True:
        day = Watermark.objects.filter(website=website, granularity=Granularity.DAY).first()
        if day is None or day.closed_until is None or day.covered_from is None:
            return done
        wm, _ = Watermark.objects.get_or_create(website=website, granularity=Granularity.MONTH)
        expected = wm.closed_until
        first_day = day.covered_from.astimezone(tz).date()
        month = first_day.replace(day=1)
        if month != first_day:
            month = next_month(month)  # a month partly before the first daily bucket: no
        if expected is not None:
            month = max(month, expected.astimezone(tz).date())
        restarted = False
        while True:
            a, b = local_midnight(month, tz), local_midnight(next_month(month), tz)
            if b > day.closed_until:
                return done
            with transaction.atomic():
                wm = _locked(website, Granularity.MONTH)
                if wm.closed_until != expected:
                    restarted = True
                    break
                _replace_month(website, a, b, now)
                wm.closed_until = expected = b
                if wm.covered_from is None or a < wm.covered_from:
                    wm.covered_from = a
                wm.version = F("version") + 1
                wm.save(update_fields=["closed_until", "covered_from", "version"])
            done += 1
            month = next_month(month)
        if not restarted:
            return done
