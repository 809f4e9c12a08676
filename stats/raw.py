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

from django.db.models import Aggregate, Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncDay, TruncHour, TruncMinute

from stats import measures
from stats.converted import converted
from stats.dimensions import Dimension
from stats.filters import Filters
from tracking.models import PAGEVIEW_TYPES, Event, Session

# Measures of a session breakdown row, in the order of ``measures.ROW``.
RowMeasures = tuple[int, ...]
_TRUNC = {"minute": TruncMinute, "hour": TruncHour, "day": TruncDay}
# A chart bucket's measures, in the order of ``stats.queries.Point``.
_SERIES = ("pageviews", "visitors", "sessions", "bounces", "duration_s")


def sessions_qs(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters
) -> QuerySet[Session]:
    qs = Session.objects.filter(website_id=website_id, started_at__gte=start, started_at__lt=end)
    if (session_q := filters.session_q()) is not None:
        qs = qs.filter(session_q)
    if filters.converted():
        qs = qs.filter(converted(website_id, filters.goal, filters.prop, "pk"))
    if (event_q := filters.event_q()) is not None:
        qs = qs.filter(
            Exists(
                Event.objects.filter(event_q, session_id=OuterRef("pk"), type__in=PAGEVIEW_TYPES)
            )
        )
    return qs


def events_qs(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters
) -> QuerySet[Event]:
    """Events of every type made in the range by the sessions the filters keep (a page
    filter keeps the events made on that page)."""
    qs = Event.objects.filter(website_id=website_id, created_at__gte=start, created_at__lt=end)
    if (event_q := filters.event_q()) is not None:
        qs = qs.filter(event_q)
    if (session_q := filters.session_q("session__")) is not None:
        qs = qs.filter(session_q)
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
    return filters.event_q() is None and (filters.session_q() is not None or filters.converted())


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
    """Bucket start -> [page views, visitors, sessions, bounces, duration_s], only buckets
    with data. Sessions, their bounces and duration count in the bucket they started in."""
    trunc = _TRUNC[granularity]
    # Hours and minutes are truncated in UTC (then shown in local time) so that half-hour
    # time zones and DST changes still give one bucket per real hour.
    trunc_tz = tz if granularity == "day" else dt.UTC
    out: dict[dt.datetime, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    sessions = (
        sessions_qs(website_id, start, end, filters)
        .annotate(b=trunc("started_at", tzinfo=trunc_tz))
        .values("b")
        .annotate(**_aggregates())
        .values_list("b", *(f"m_{name}" for name in _SERIES))
    )
    session_pageviews = session_based_pageviews(filters)
    for b, *values in sessions:
        acc = out[bucket_key(b, granularity, tz)]
        for i, value in enumerate(values):
            if i or session_pageviews:  # else page views count by their own time, below
                acc[i] += value or 0
    if session_pageviews:
        return dict(out)
    for view in (
        pageviews_qs(website_id, start, end, filters)
        .annotate(b=trunc("created_at", tzinfo=trunc_tz))
        .values("b")
        .annotate(n=Count("id"))
    ):
        out[bucket_key(view["b"], granularity, tz)][0] += view["n"]
    return dict(out)


def page_rows(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters, tz: ZoneInfo
) -> dict[str, list[int]]:
    """Path -> ``measures.PAGE``: page views, visitors (distinct per local day, summed),
    then the reports of its views sent in the range (``report_sums``)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0] * len(measures.PAGE))
    for row in (
        pageviews_qs(website_id, start, end, filters)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("path", "day")
        .annotate(n=Count("id"), v=Count("session__visitor_id", distinct=True))
    ):
        acc = out[row["path"]]
        acc[0] += row["n"]
        acc[1] += row["v"]
    for path, sums in report_sums(website_id, start, end, filters).items():
        out[path][2:] = sums
    return dict(out)


def report_sums(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters
) -> dict[str, list[int]]:
    """Path -> [engaged ms, views that reported it, sum of deepest scroll, views that
    reported it] of the reports sent in the range (``sessions.report`` attributes them).

    A report counts by its own time and for the page it reports on, which the page filter
    applies to; a view's later reports add time and depth gained but no view.
    """
    qs = Event.objects.filter(
        website_id=website_id,
        created_at__gte=start,
        created_at__lt=end,
        engaged_view__isnull=False,
    ).annotate(report_path=Coalesce("engaged_path", "path"))
    if (page_q := filters.report_q("report_path")) is not None:
        qs = qs.filter(page_q)
    if (session_q := filters.session_q("session__")) is not None:
        qs = qs.filter(session_q)
    if filters.converted():
        qs = qs.filter(converted(website_id, filters.goal, filters.prop, "session_id"))
    first = Q(engaged_view=True)
    return {
        r["report_path"]: [r["ms"] or 0, r["views"], r["scroll"] or 0, r["scrolled"]]
        for r in qs.values("report_path").annotate(
            ms=Sum("engaged_ms"),
            views=Count("id", filter=first & Q(engaged_ms__isnull=False)),
            scroll=Sum("scroll_pct"),
            scrolled=Count("id", filter=first & Q(scroll_pct__isnull=False)),
        )
    }


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
