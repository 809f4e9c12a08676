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

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncDay, TruncHour, TruncMinute

from stats.filters import Filters
from tracking.models import PAGEVIEW_TYPES, Event, Session

# Breakdown -> Session field (``pages`` is special: it counts page view events by path).
SESSION_FIELDS: dict[str, str] = {
    "entry_pages": "entry_path",
    "exit_pages": "exit_path",
    "sources": "source",
    "utm_sources": "utm_source",
    "utm_mediums": "utm_medium",
    "utm_campaigns": "utm_campaign",
    "browsers": "browser",
    "os": "os",
    "devices": "device",
}
SUMMARY_FIELDS = (
    "pageviews", "visitors", "sessions", "bounces", "total_duration_s", "session_pageviews",
    "exits",
)  # fmt: skip
# Measures of a breakdown row: page views, visitors, sessions, bounces, duration, exits.
RowMeasures = tuple[int, int, int, int, int, int]
_TRUNC = {"minute": TruncMinute, "hour": TruncHour, "day": TruncDay}


def sessions_qs(website_id: int, start: dt.datetime, end: dt.datetime,
                filters: Filters) -> QuerySet[Session]:  # fmt: skip
    qs = Session.objects.filter(website_id=website_id, started_at__gte=start, started_at__lt=end)
    if filters.session_filters():
        qs = qs.filter(**filters.session_filters())
    if filters.page is not None:
        qs = qs.filter(
            Exists(
                Event.objects.filter(
                    session_id=OuterRef("pk"), path=filters.page, type__in=PAGEVIEW_TYPES
                )
            )
        )
    return qs


def pageviews_qs(website_id: int, start: dt.datetime, end: dt.datetime,
                 filters: Filters) -> QuerySet[Event]:  # fmt: skip
    qs = Event.objects.filter(
        website_id=website_id, created_at__gte=start, created_at__lt=end, type__in=PAGEVIEW_TYPES
    )
    if filters.page is not None:
        qs = qs.filter(path=filters.page)
    session_filters = filters.session_filters()
    if session_filters:
        qs = qs.filter(**{f"session__{k}": v for k, v in session_filters.items()})
    return qs


def session_based_pageviews(filters: Filters) -> bool:
    """With session filters only, page views are those of the matching sessions, counted
    with their session (so a filtered summary equals the breakdown row it came from)."""
    return filters.page is None and bool(filters.session_filters())


def summary(website_id: int, start: dt.datetime, end: dt.datetime,
            filters: Filters) -> dict[str, int]:  # fmt: skip
    agg = sessions_qs(website_id, start, end, filters).aggregate(
        sessions=Count("id"),
        visitors=Count("visitor_id", distinct=True),
        bounces=Count("id", filter=Q(is_bounce=True)),
        duration=Sum("duration_s"),
        session_pageviews=Sum("pageviews"),
        exits=Count("id", filter=Q(has_exit=True)),
    )
    session_pageviews = agg["session_pageviews"] or 0
    if session_based_pageviews(filters):
        pageviews = session_pageviews
    else:
        pageviews = pageviews_qs(website_id, start, end, filters).count()
    return {
        "pageviews": pageviews,
        "visitors": agg["visitors"] or 0,
        "sessions": agg["sessions"] or 0,
        "bounces": agg["bounces"] or 0,
        "total_duration_s": agg["duration"] or 0,
        "session_pageviews": session_pageviews,
        "exits": agg["exits"] or 0,
    }


def bucket_key(value: dt.datetime, granularity: str, tz: ZoneInfo) -> dt.datetime:
    """The start of the bucket holding ``value``: a local midnight for days, a UTC-aligned
    hour or minute otherwise (shown in local time)."""
    if granularity == "day":
        return dt.datetime.combine(value.astimezone(tz).date(), dt.time(), tz)
    utc = value.astimezone(dt.UTC).replace(second=0, microsecond=0)
    if granularity == "hour":
        utc = utc.replace(minute=0)
    return utc.astimezone(tz)


def timeseries(website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters,
               granularity: str, tz: ZoneInfo) -> dict[dt.datetime, list[int]]:  # fmt: skip
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
    for row in (
        pageviews_qs(website_id, start, end, filters)
        .annotate(b=trunc("created_at", tzinfo=trunc_tz))
        .values("b")
        .annotate(n=Count("id"))
    ):
        out[bucket_key(row["b"], granularity, tz)][0] += row["n"]
    for row in sessions.values("b").annotate(n=Count("id"), v=Count("visitor_id", distinct=True)):
        acc = out[bucket_key(row["b"], granularity, tz)]
        acc[1] += row["v"]
        acc[2] += row["n"]
    return dict(out)


def page_rows(website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters,
              tz: ZoneInfo) -> dict[str, list[int]]:  # fmt: skip
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


def session_rows(website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters,
                 dimension: str) -> dict[str, RowMeasures]:  # fmt: skip
    """Value -> measures of the sessions started in the range with that value ("" included)."""
    field = SESSION_FIELDS[dimension]
    return {
        r[field]: (r["pv"] or 0, r["v"], r["n"], r["b"], r["d"] or 0, r["x"])
        for r in sessions_qs(website_id, start, end, filters)
        .values(field)
        .annotate(
            n=Count("id"),
            v=Count("visitor_id", distinct=True),
            pv=Sum("pageviews"),
            b=Count("id", filter=Q(is_bounce=True)),
            d=Sum("duration_s"),
            x=Count("id", filter=Q(has_exit=True)),
        )
    }
