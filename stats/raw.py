"""Stats computed from raw sessions and events for a half-open UTC range ``[start, end)``.

The definitions live in ``stats.queries``; this module is their reference implementation.
The rollups compute every snapshot bucket with these same functions, and the query planner
uses them for the parts of a period no snapshot covers (the open day, partial days, filters
the snapshots cannot answer). Results are plain dicts so pieces can be added together.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from zoneinfo import ZoneInfo

from django.db.models import Aggregate, Count, Exists, OuterRef, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncDay, TruncHour, TruncMinute

from stats import measures
from stats.converted import converted
from stats.dimensions import Dimension
from stats.filters import Filters
from tracking.models import PAGEVIEW_TYPES, Event, Session

# Measures of a session breakdown row, in the order of ``measures.ROW``.
RowMeasures = tuple[int, ...]
_TRUNC = {"minute": TruncMinute, "hour": TruncHour, "day": TruncDay}


def sessions_qs(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters
) -> QuerySet[Session]:
    qs = Session.objects.filter(website_id=website_id, started_at__gte=start, started_at__lt=end)
    if filters.session_filters():
        qs = qs.filter(**filters.session_filters())
    if filters.converted():
        qs = qs.filter(converted(website_id, filters.goal, filters.prop, "pk"))
    event_filters = filters.event_filters()
    if event_filters:
        qs = qs.filter(
            Exists(
                Event.objects.filter(
                    session_id=OuterRef("pk"), type__in=PAGEVIEW_TYPES, **event_filters
                )
            )
        )
    return qs


def events_qs(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters
) -> QuerySet[Event]:
    """Events of every type made in the range by the sessions the filters keep (a page
    filter keeps the events made on that page)."""
    qs = Event.objects.filter(website_id=website_id, created_at__gte=start, created_at__lt=end)
    event_filters = filters.event_filters()
    if event_filters:
        qs = qs.filter(**event_filters)
    session_filters = filters.session_filters()
    if session_filters:
        qs = qs.filter(**{f"session__{k}": v for k, v in session_filters.items()})
    if filters.converted():
        qs = qs.filter(converted(website_id, filters.goal, filters.prop, "session_id"))
    return qs


def pageviews_qs(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters
) -> QuerySet[Event]:
    return events_qs(website_id, start, end, filters).filter(type__in=PAGEVIEW_TYPES)


def session_based_pageviews(filters: Filters) -> bool:
    """With session filters only, page views are those of the matching sessions, counted
    with their session (so a filtered summary equals the breakdown row it came from)."""
    return not filters.event_filters() and (bool(filters.session_filters()) or filters.converted())


def _aggregates() -> dict[str, Aggregate]:
    # Aliased: an annotation may not take the name of a Session field.
    return {f"m_{name}": agg for name, agg in measures.session_aggregates().items()}


def summary(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters
) -> dict[str, int]:
    """The ``measures.SUMMARY`` of the range: sessions started in it, page views made in it."""
    agg = sessions_qs(website_id, start, end, filters).aggregate(**_aggregates())
    out = {name: agg[f"m_{name}"] or 0 for name in measures.ROW}
    out["session_pageviews"] = out["pageviews"]
    if not session_based_pageviews(filters):
        out["pageviews"] = pageviews_qs(website_id, start, end, filters).count()
    return {name: out[name] for name in measures.SUMMARY}


def bucket_key(value: dt.datetime, granularity: str, tz: ZoneInfo) -> dt.datetime:
    """The start of the bucket holding ``value``: a local midnight for days, a UTC-aligned
    hour or minute otherwise (shown in local time)."""
    if granularity == "day":
        return dt.datetime.combine(value.astimezone(tz).date(), dt.time(), tz)
    utc = value.astimezone(dt.UTC).replace(second=0, microsecond=0)
    if granularity == "hour":
        utc = utc.replace(minute=0)
    return utc.astimezone(tz)


def timeseries(
    website_id: int,
    start: dt.datetime,
    end: dt.datetime,
    filters: Filters,
    granularity: str,
    tz: ZoneInfo,
) -> dict[dt.datetime, list[int]]:
    """Bucket start -> [page views, visitors, sessions], only buckets with data."""
    trunc = _TRUNC[granularity]
    # Hours and minutes are truncated in UTC (then shown in local time) so that half-hour
    # time zones and DST changes still give one bucket per real hour.
    trunc_tz = tz if granularity == "day" else dt.UTC
    out: dict[dt.datetime, list[int]] = defaultdict(lambda: [0, 0, 0])
    sessions = sessions_qs(website_id, start, end, filters).annotate(
        b=trunc("started_at", tzinfo=trunc_tz)
    )
    if session_based_pageviews(filters):
        rows = sessions.values("b").annotate(
            n=Count("id"), v=Count("visitor_id", distinct=True), pv=Sum("pageviews")
        )
        for row in rows:
            acc = out[bucket_key(row["b"], granularity, tz)]
            acc[0] += row["pv"] or 0
            acc[1] += row["v"]
            acc[2] += row["n"]
        return dict(out)
    for view in (
        pageviews_qs(website_id, start, end, filters)
        .annotate(b=trunc("created_at", tzinfo=trunc_tz))
        .values("b")
        .annotate(n=Count("id"))
    ):
        out[bucket_key(view["b"], granularity, tz)][0] += view["n"]
    for started in sessions.values("b").annotate(
        n=Count("id"), v=Count("visitor_id", distinct=True)
    ):
        acc = out[bucket_key(started["b"], granularity, tz)]
        acc[1] += started["v"]
        acc[2] += started["n"]
    return dict(out)


def page_rows(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters, tz: ZoneInfo
) -> dict[str, list[int]]:
    """Path -> [page views, visitors]: visitors are distinct per local day, summed."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in (
        pageviews_qs(website_id, start, end, filters)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("path", "day")
        .annotate(n=Count("id"), v=Count("session__visitor_id", distinct=True))
    ):
        acc = out[row["path"]]
        acc[0] += row["n"]
        acc[1] += row["v"]
    return dict(out)


def session_rows(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters, dimension: Dimension
) -> dict[str, RowMeasures]:
    """Value -> ``measures.ROW`` of the sessions started in the range with that value ("" included)."""
    field = dimension.field
    keys = [f"m_{name}" for name in measures.ROW]
    return {
        r[field]: tuple(r[key] or 0 for key in keys)
        for r in sessions_qs(website_id, start, end, filters)
        .values(field)
        .annotate(**_aggregates())
    }
