"""Every read of analytics goes through this module: summary, time series, breakdowns,
current visitors and data quality, for a website, a ``Period`` and optional ``Filters``.

Definitions (coded once, here; shown to users next to each number):

- page view: a ``PAGE_VIEW`` or ``PATH_CHANGE`` event; counts on the local day/hour of its
  own time. ``PAGE_EXIT`` is not a page view.
- session: a visitor's events less than 30 minutes apart; belongs to the local day and hour
  in which it started (``Session.started_at``).
- visitors: distinct visitor ids of the sessions that started in the range. The visitor id
  is salted per local day, so over whole days this is exactly the sum of the daily figures
  (a person returning on another day counts again).
- session duration: last event minus first event (``PAGE_EXIT`` included), in seconds.
- bounce: a session with exactly one page view; bounce rate = bounces / sessions.
- views per session: page views of the sessions / sessions.
- Session breakdowns (entry/exit page, sources, UTM, browser, OS, device) describe sessions:
  ``visitors``, ``sessions`` and the ``pageviews`` of those sessions. The pages breakdown
  counts page views by their own time; its visitors are the distinct visitor ids of those
  page views per local day, summed over the days of the range.

Functions take ``(website, period, *, filters=None)`` and return plain data. Today they
read raw sessions and events; snapshots and the cache go under these same functions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any, Literal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncDay, TruncHour, TruncMinute

from stats.filters import NO_FILTERS, Filters
from stats.periods import Period
from tracking.models import PAGEVIEW_TYPES, DropCount, Event, Session
from websites.models import Website

CURRENT_VISITORS_MINUTES = 5
Dimension = Literal[
    "pages", "entry_pages", "exit_pages", "sources", "utm_sources", "utm_mediums",
    "utm_campaigns", "browsers", "os", "devices",
]  # fmt: skip
# Session breakdown -> (Session field, filter name that clicking a row sets)
SESSION_DIMENSIONS: dict[str, tuple[str, str]] = {
    "entry_pages": ("entry_path", "entry_page"),
    "exit_pages": ("exit_path", "exit_page"),
    "sources": ("source", "source"),
    "utm_sources": ("utm_source", "utm_source"),
    "utm_mediums": ("utm_medium", "utm_medium"),
    "utm_campaigns": ("utm_campaign", "utm_campaign"),
    "browsers": ("browser", "browser"),
    "os": ("os", "os"),
    "devices": ("device", "device"),
}
DIMENSIONS: tuple[str, ...] = ("pages", *SESSION_DIMENSIONS)
# The breakdowns of the public stats JSON (``utm_mediums`` is dashboard-only for now).
PUBLIC_DIMENSIONS: tuple[str, ...] = tuple(d for d in DIMENSIONS if d != "utm_mediums")
FILTER_FOR_DIMENSION = {"pages": "page", **{k: v[1] for k, v in SESSION_DIMENSIONS.items()}}


@dataclass(frozen=True)
class Summary:
    pageviews: int
    visitors: int
    sessions: int
    bounces: int
    total_duration_s: int
    session_pageviews: int
    exits: int  # sessions that sent an exit beacon

    @property
    def bounce_rate(self) -> float | None:
        """Bounces / sessions, 0..1; None without sessions."""
        return self.bounces / self.sessions if self.sessions else None

    @property
    def avg_session_duration_s(self) -> float | None:
        return self.total_duration_s / self.sessions if self.sessions else None

    @property
    def views_per_session(self) -> float | None:
        return self.session_pageviews / self.sessions if self.sessions else None

    @property
    def exit_share(self) -> float | None:
        """Share of sessions that sent a PAGE_EXIT: how trustworthy durations are."""
        return self.exits / self.sessions if self.sessions else None


@dataclass(frozen=True)
class Row:
    value: str
    visitors: int
    pageviews: int
    sessions: int | None = None  # None for pages


@dataclass(frozen=True)
class Point:
    t: dt.datetime  # bucket start, aware, in the website's time zone
    pageviews: int
    visitors: int
    sessions: int


# --- building blocks ------------------------------------------------------------------


def _sessions(website: Website, period: Period, filters: Filters) -> QuerySet[Session]:
    qs = Session.objects.filter(
        website=website, started_at__gte=period.start, started_at__lt=period.end
    )
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


def _pageviews(website: Website, period: Period, filters: Filters) -> QuerySet[Event]:
    qs = Event.objects.filter(
        website=website,
        created_at__gte=period.start,
        created_at__lt=period.end,
        type__in=PAGEVIEW_TYPES,
    )
    if filters.page is not None:
        qs = qs.filter(path=filters.page)
    session_filters = filters.session_filters()
    if session_filters:
        qs = qs.filter(**{f"session__{k}": v for k, v in session_filters.items()})
    return qs


# --- public reads ---------------------------------------------------------------------


def summary(website: Website, period: Period, *, filters: Filters = NO_FILTERS) -> Summary:
    """Headline numbers for ``period`` (see the module docstring for each definition)."""
    agg = _sessions(website, period, filters).aggregate(
        sessions=Count("id"),
        visitors=Count("visitor_id", distinct=True),
        bounces=Count("id", filter=Q(is_bounce=True)),
        duration=Sum("duration_s"),
        session_pageviews=Sum("pageviews"),
        exits=Count("id", filter=Q(has_exit=True)),
    )
    return Summary(
        pageviews=_pageviews(website, period, filters).count(),
        visitors=agg["visitors"] or 0,
        sessions=agg["sessions"] or 0,
        bounces=agg["bounces"] or 0,
        total_duration_s=agg["duration"] or 0,
        session_pageviews=agg["session_pageviews"] or 0,
        exits=agg["exits"] or 0,
    )


_TRUNC = {"minute": TruncMinute, "hour": TruncHour, "day": TruncDay}


def buckets(period: Period) -> list[dt.datetime]:
    """Bucket starts of ``period`` at its granularity, aware in the website's time zone."""
    tz = period.tz
    if period.granularity == "day":
        return [
            dt.datetime.combine(period.first_day + dt.timedelta(days=i), dt.time(), tz)
            for i in range(period.days)
        ]
    step = dt.timedelta(minutes=1) if period.granularity == "minute" else dt.timedelta(hours=1)
    # Step in UTC so DST days have 23 or 25 hourly buckets, each a real hour.
    t = period.start.replace(second=0, microsecond=0)
    if period.granularity == "hour":
        t = t.replace(minute=0)
    out = []
    while t < period.end:
        out.append(t.astimezone(tz))
        t += step
    return out


def _bucket_key(value: dt.datetime, period: Period) -> dt.datetime:
    local = value.astimezone(period.tz)
    if period.granularity == "day":
        return dt.datetime.combine(local.date(), dt.time(), period.tz)
    utc = value.astimezone(dt.UTC).replace(second=0, microsecond=0)
    if period.granularity == "hour":
        utc = utc.replace(minute=0)
    return utc.astimezone(period.tz)


def timeseries(website: Website, period: Period, *, filters: Filters = NO_FILTERS) -> list[Point]:
    """Page views, visitors and sessions per bucket (minute, hour or day; see ``Period``).

    Every bucket of the period is present (zeros included). Visitors per bucket are the
    distinct visitors of the sessions started in it; they add up over days, not hours.
    """
    trunc = _TRUNC[period.granularity]
    # Hours and minutes are truncated in UTC (then shown in local time) so that the half
    # hour time zones and DST changes still give one bucket per real hour.
    trunc_tz = period.tz if period.granularity == "day" else dt.UTC
    views = defaultdict(int)
    for row in (
        _pageviews(website, period, filters)
        .annotate(b=trunc("created_at", tzinfo=trunc_tz))
        .values("b")
        .annotate(n=Count("id"))
    ):
        views[_bucket_key(row["b"], period)] += row["n"]
    sessions: dict[dt.datetime, tuple[int, int]] = {}
    for row in (
        _sessions(website, period, filters)
        .annotate(b=trunc("started_at", tzinfo=trunc_tz))
        .values("b")
        .annotate(n=Count("id"), v=Count("visitor_id", distinct=True))
    ):
        key = _bucket_key(row["b"], period)
        n, v = sessions.get(key, (0, 0))
        sessions[key] = (n + row["n"], v + row["v"])
    return [
        Point(
            t=b,
            pageviews=views.get(b, 0),
            visitors=sessions.get(b, (0, 0))[1],
            sessions=sessions.get(b, (0, 0))[0],
        )  # fmt: skip
        for b in buckets(period)
    ]


def _sort(rows: list[Row], limit: int | None) -> list[Row]:
    rows.sort(key=lambda r: (-r.visitors, -r.pageviews, r.value))
    return rows if limit is None else rows[:limit]


def breakdown(
    website: Website,
    period: Period,
    dimension: str,
    *,
    filters: Filters = NO_FILTERS,
    limit: int | None = 10,
) -> list[Row]:
    """Rows of one dimension, sorted by visitors, then page views, then value.

    UTM dimensions leave untagged sessions out; ``sources`` keeps them as "" (direct).

    ``pages``: page views by path with their visitors (per local day, summed). Session
    dimensions: the sessions with each value, their visitors and their page views.
    """
    if dimension == "pages":
        per_path: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in (
            _pageviews(website, period, filters)
            .annotate(day=TruncDate("created_at", tzinfo=period.tz))
            .values("path", "day")
            .annotate(n=Count("id"), v=Count("session__visitor_id", distinct=True))
        ):
            acc = per_path[row["path"]]
            acc[0] += row["n"]
            acc[1] += row["v"]
        rows = [Row(value=p, visitors=v, pageviews=n) for p, (n, v) in per_path.items()]
        return _sort(rows, limit)
    if dimension not in SESSION_DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    field = SESSION_DIMENSIONS[dimension][0]
    sessions = _sessions(website, period, filters)
    if field.startswith("utm_"):
        sessions = sessions.exclude(**{field: ""})  # untagged traffic is not a campaign
    rows = [
        Row(value=r[field], visitors=r["v"], pageviews=r["pv"] or 0, sessions=r["n"])
        for r in sessions.values(field).annotate(
            n=Count("id"), v=Count("visitor_id", distinct=True), pv=Sum("pageviews")
        )
    ]
    return _sort(rows, limit)


def current_visitors(website: Website, *, now: dt.datetime | None = None) -> int:
    """Distinct visitors with an event in the last 5 minutes."""
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(minutes=CURRENT_VISITORS_MINUTES)
    return (
        Session.objects.filter(website=website, last_seen_at__gte=since)
        .values("visitor_id")
        .distinct()
        .count()
    )


def dropped_events(website: Website, period: Period) -> dict[str, int]:
    """Events answered but not stored (bots, exits without a session), by reason.

    Counted per UTC day, so the edges of a range follow UTC days, not local ones.
    """
    first = period.start.astimezone(dt.UTC).date()
    last = (period.end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
    return dict(
        DropCount.objects.filter(website=website, day__gte=first, day__lte=last)
        .values("reason")
        .annotate(n=Sum("count"))
        .values_list("reason", "n")
    )


def has_data(website: Website) -> bool:
    return Event.objects.filter(website=website).exists()


def stats_json(
    website: Website, period: Period, *, filters: Filters = NO_FILTERS, limit: int = 10
) -> dict[str, Any]:
    """The stats JSON of the public contract (CLI ``--json`` and the HTTP API share it)."""
    s = summary(website, period, filters=filters)
    out: dict[str, Any] = {
        "site": website.tracking_id,
        "timezone": website.timezone,
        "from": period.first_day.isoformat(),
        "to": period.last_day.isoformat(),
        "pageviews": s.pageviews,
        "visitors": s.visitors,
        "sessions": s.sessions,
        "avg_session_duration_s": _round(s.avg_session_duration_s),
        "bounce_rate": _round(s.bounce_rate, 4),
        "views_per_session": _round(s.views_per_session),
    }
    for dimension in PUBLIC_DIMENSIONS:
        out[dimension] = [row_json(r) for r in breakdown(website, period, dimension,
                                                         filters=filters, limit=limit)]  # fmt: skip
    return out


def timeseries_json(
    website: Website, period: Period, *, filters: Filters = NO_FILTERS
) -> list[dict[str, Any]]:
    return [
        {
            "t": p.t.isoformat(),
            "pageviews": p.pageviews,
            "visitors": p.visitors,
            "sessions": p.sessions,
        }  # fmt: skip
        for p in timeseries(website, period, filters=filters)
    ]


def row_json(row: Row) -> dict[str, Any]:
    data = asdict(row)
    if row.sessions is None:
        del data["sessions"]
    return data


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
