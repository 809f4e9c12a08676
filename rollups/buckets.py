"""Buckets: their boundaries by granularity, and one bucket's snapshot computed (not stored).

An hourly bucket is a UTC hour, a daily bucket a local day of the website's time zone and a
monthly bucket a local calendar month, each identified by its start (aware UTC). Hours and
days are computed from raw data with ``stats.raw``, the same code the raw read path uses, so
a snapshot answer equals the raw answer by construction; a month is the sum of its days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from core.calendar import DAY, HOUR, day_start, hour_start, local_day, local_midnight, next_month
from goals.selectors import funnel_list, goal_list
from rollups.models import Granularity, Snapshot, SnapshotRow
from stats import conversions, measures, raw
from stats.dimensions import BY_NAME, SESSION_DIMENSIONS
from stats.filters import NO_FILTERS
from websites.models import Website

# The event dimension that snapshots keep: page views by path.
PAGE = BY_NAME["page"]
# A bucket's contents: its snapshot and its rows, unsaved.
Contents = tuple[Snapshot, list[SnapshotRow]]


def settle() -> dt.timedelta:
    """How long after its end a bucket closes: by then the sessions that started in it have
    almost always ended (``SESSION_IDLE_MINUTES``)."""
    return dt.timedelta(minutes=settings.SESSION_IDLE_MINUTES)


def bucket_start(granularity: str, instant: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The start (aware UTC) of the bucket holding ``instant``: its UTC hour, its local
    midnight, or the local midnight that starts its month."""
    if granularity == Granularity.HOUR:
        return hour_start(instant)
    if granularity == Granularity.MONTH:
        return local_midnight(local_day(instant, tz).replace(day=1), tz)
    return day_start(instant, tz)


def bucket_end(granularity: str, start: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The end (exclusive, aware UTC) of the bucket starting at ``start``."""
    if granularity == Granularity.HOUR:
        return start + HOUR
    if granularity == Granularity.MONTH:
        return local_midnight(next_month(local_day(start, tz)), tz)
    return local_midnight(local_day(start, tz) + DAY, tz)


def iter_buckets(
    granularity: str, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Buckets (start, end) from the one holding ``start`` while they start before ``end``."""
    b = bucket_start(granularity, start, tz)
    while b < end:
        e = bucket_end(granularity, b, tz)
        yield b, e
        b = e


def bucket_snapshot(
    website: Website, granularity: str, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> Contents | None:
    """The snapshot and rows of the bucket ``[start, end)`` computed from raw data, unsaved
    and stamped ``computed_at=now``; None when the bucket has no session and no page view."""
    summary = raw.summary(website.id, start, end, NO_FILTERS)
    bucket = {"website": website, "granularity": granularity, "start": start}
    # Conversions are read by whole days only (``stats.queries.events`` and the rest).
    day = granularity == Granularity.DAY
    conversions = conversion_rows(website, bucket, start, end) if day else []
    # A bucket may hold only reports of page views made before it.
    pages = raw.page_rows(website.id, start, end, NO_FILTERS, website.tz)
    if summary["sessions"] == 0 and summary["pageviews"] == 0 and not conversions and not pages:
        return None
    snapshot = Snapshot(**bucket, computed_at=now, **{m: summary[m] for m in measures.SUMMARY})
    rows = [
        SnapshotRow(
            **bucket,
            dimension=PAGE.name,
            value=path,
            **dict(zip(measures.PAGE, values, strict=True)),
        )
        for path, values in pages.items()
    ]
    rows.extend(conversions)
    for dimension in SESSION_DIMENSIONS:
        found = raw.session_rows(website.id, start, end, NO_FILTERS, dimension)
        rows.extend(
            SnapshotRow(
                **bucket,
                dimension=dimension.name,
                value=value,
                **dict(zip(measures.ROW, values, strict=True)),
            )
            for value, values in found.items()
        )
    return snapshot, rows


def conversion_rows(
    website: Website, bucket: Mapping[str, Any], start: dt.datetime, end: dt.datetime
) -> list[SnapshotRow]:
    """Custom events, their properties, the website's goals (as they are defined now) and
    its funnels in the bucket: ``pageviews`` holds the events (visits for funnel steps)."""
    tz = website.tz
    goals = list(goal_list(website))
    found = {
        conversions.EVENT: conversions.event_rows(website.id, start, end, NO_FILTERS, tz),
        conversions.PROP: conversions.prop_rows(website.id, start, end, NO_FILTERS, tz),
        conversions.GOAL: conversions.goal_rows(website.id, start, end, NO_FILTERS, tz, goals),
        conversions.FUNNEL: conversions.funnel_rows(
            website.id, start, end, NO_FILTERS, list(funnel_list(website))
        ),
    }
    return [
        SnapshotRow(**bucket, dimension=dimension, value=value, pageviews=n, visitors=v)
        for dimension, rows in found.items()
        for value, (n, v) in rows.items()
    ]


def month_snapshot(
    website: Website, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> Contents | None:
    """The month ``[start, end)`` as the sums of its daily snapshots and rows, unsaved and
    stamped ``computed_at=now``; None when none of its days has data."""
    days = {
        "website": website,
        "granularity": Granularity.DAY,
        "start__gte": start,
        "start__lt": end,
    }
    totals = Snapshot.objects.filter(**days).aggregate(**measures.sums(measures.SUMMARY))
    if totals["pageviews"] is None:
        return None
    bucket = {"website": website, "granularity": Granularity.MONTH, "start": start}
    snapshot = Snapshot(**bucket, computed_at=now, **{k: v or 0 for k, v in totals.items()})
    # Aliased: an annotation may not take the name of a SnapshotRow field.
    sums = {f"s_{name}": agg for name, agg in measures.sums(measures.STORED_ROW).items()}
    grouped: Iterable[Mapping[str, Any]] = (
        SnapshotRow.objects.filter(**days).values("dimension", "value").annotate(**sums)
    )
    rows = [
        SnapshotRow(
            **bucket,
            dimension=r["dimension"],
            value=r["value"],
            **{name: r[f"s_{name}"] or 0 for name in measures.STORED_ROW},
        )
        for r in grouped
    ]
    return snapshot, rows
