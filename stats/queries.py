"""Every read of analytics goes through this module: summary, time series, breakdowns,
current visitors and data quality, for a website, a ``Period`` and optional ``Filters``.

Definitions (coded once, here; shown to users next to each number):

- page view: a ``PAGE_VIEW`` or ``PATH_CHANGE`` event; counts on the local day/hour of its
  own time. ``PAGE_EXIT`` and custom events (``EVENT``) are not page views.
- session: a visitor's events less than 30 minutes apart (custom events included: one can
  open a session of no page views); belongs to the local day and hour in which it started
  (``Session.started_at``).
- visitors: distinct visitor ids of the sessions that started in the range. The visitor id
  is salted per local day, so over whole days this is exactly the sum of the daily figures
  (a person returning on another day counts again).
- session duration: last event minus first event (``PAGE_EXIT`` included), in seconds.
- bounce: a session with exactly one page view and no custom event; bounce rate = bounces /
  sessions.
- views per session: page views of the sessions / sessions.
- engaged time: the time a page was visible and had the focus, as the tracker reports it
  for each page view when it is left (the next ``PATH_CHANGE``) or hidden (``PAGE_EXIT``).
  Per visit: the engaged time of the sessions / sessions (a visit that reported none
  counts 0 s). Per page, time on page: its reported engaged time / its views that
  reported one; scroll depth: the mean of its views' deepest scroll (percent of the
  page's height). A report counts by its own time, on the page view it leaves (the
  visit's latest), so near the edges of a range it may fall a bucket after its view.
- Session breakdowns (entry/exit page, sources, UTM, browser, OS, device) describe sessions:
  ``visitors``, ``sessions`` and the ``pageviews`` of those sessions. The pages breakdown
  counts page views by their own time; its visitors are the distinct visitor ids of those
  page views per local day, summed over the days of the range.

Functions take ``(website, period, *, filters=None)`` and return plain data. They answer
from the cache first (``stats.cache``), then from snapshots and raw data as
``stats.planner`` decides; ``stats.raw`` is the reference computation of each definition.

With one or more session filters (and no page filter), page views are the page views of the
matching sessions, counted with their session: a filtered summary equals the breakdown row
that was clicked, and the snapshots can answer it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from django.db.models import Sum

from goals.models import Funnel
from goals.selectors import funnel_list, goal_list
from rollups.models import Snapshot
from stats import cache as stats_cache
from stats import conversions, intervals, measures, planner, raw
from stats.dimensions import DIMENSIONS, PUBLIC_BREAKDOWNS, Describes, by_breakdown
from stats.filters import NO_FILTERS, Filters
from stats.periods import Granularity, Period
from tracking.models import DropCount, Event, Session
from websites.models import Website

CURRENT_VISITORS_MINUTES = 5
CURRENT_VISITORS_CACHE_SECONDS = 5


@dataclass(frozen=True)
class Summary:
    pageviews: int
    visitors: int
    sessions: int
    bounces: int
    duration_s: int  # total over the sessions
    session_pageviews: int
    exits: int  # sessions that sent an exit beacon
    engaged_ms: int = 0  # total engaged time reported by the sessions

    @property
    def bounce_rate(self) -> float | None:
        """Bounces / sessions, 0..1; None without sessions."""
        return self.bounces / self.sessions if self.sessions else None

    @property
    def avg_session_duration_s(self) -> float | None:
        return self.duration_s / self.sessions if self.sessions else None

    @property
    def views_per_session(self) -> float | None:
        return self.session_pageviews / self.sessions if self.sessions else None

    @property
    def avg_engaged_time_s(self) -> float | None:
        """Engaged time per session, in seconds; None without sessions."""
        return self.engaged_ms / self.sessions / 1000 if self.sessions else None

    @property
    def exit_share(self) -> float | None:
        """Share of sessions that sent a PAGE_EXIT: how trustworthy durations are."""
        return self.exits / self.sessions if self.sessions else None


class Row(NamedTuple):
    """One breakdown row (a named tuple: cheap to rebuild from the cache)."""

    value: str
    visitors: int
    pageviews: int
    sessions: int | None = None  # None for pages
    # Pages only (``measures.PAGE``): the reports of the page's views, as sums and counts.
    engaged_ms: int = 0
    engaged_views: int = 0
    scroll_pct_sum: int = 0
    scroll_views: int = 0

    @property
    def time_on_page_s(self) -> float | None:
        """Mean engaged time of the views that reported one, in seconds; None if none."""
        return self.engaged_ms / self.engaged_views / 1000 if self.engaged_views else None

    @property
    def scroll_depth_pct(self) -> float | None:
        """Mean deepest scroll of the views that reported one, percent; None if none."""
        return self.scroll_pct_sum / self.scroll_views if self.scroll_views else None

    @property
    def engaged_share(self) -> float | None:
        """Share of the page views that reported engaged time, 0..1 (a report sent after
        the range's end counts in the next one, hence the cap)."""
        return min(1.0, self.engaged_views / self.pageviews) if self.pageviews else None


class Point(NamedTuple):
    """One chart bucket (a named tuple: hundreds are built per long-period read)."""

    t: dt.datetime  # bucket start, aware, in the website's time zone
    pageviews: int
    visitors: int
    sessions: int
    bounces: int = 0
    duration_s: int = 0  # total over the sessions

    @property
    def bounce_rate(self) -> float | None:
        """Bounces / sessions of the bucket, 0..1; None without sessions."""
        return self.bounces / self.sessions if self.sessions else None

    @property
    def avg_session_duration_s(self) -> float | None:
        return self.duration_s / self.sessions if self.sessions else None


# --- planning and caching -------------------------------------------------------------


def _live(period: Period) -> bool:
    """Answers of periods reaching into the last two days can still change."""
    return period.end > dt.datetime.now(dt.UTC) - dt.timedelta(days=2)


def _sig(period: Period) -> tuple[str, str, str, str]:
    return (period.start.isoformat(), period.end.isoformat(), period.tz.key, period.granularity)


def _summary_key(website: Website, period: Period, filters: Filters) -> str:
    return stats_cache.make_key(website.id, "summary-3", _sig(period), filters.active())


def _timeseries_key(
    website: Website, period: Period, filters: Filters, interval: intervals.Interval
) -> str:
    return stats_cache.make_key(
        website.id, "timeseries-2", _sig(period), filters.active(), interval
    )


def _breakdown_key(
    website: Website, period: Period, dimension: str, filters: Filters, limit: int | None
) -> str:
    return stats_cache.make_key(
        website.id, "breakdown-2", _sig(period), filters.active(), dimension, limit
    )


# Seconds one realtime answer is shared for (when no event arrives meanwhile).
REALTIME_SHARE_SECONDS = 5
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
Ranges = list[planner.Range]
# A dashboard as cached: both summaries' values, the chart's columns, every breakdown's rows.
Packed = tuple[
    tuple[int, ...],
    tuple[int, ...],
    tuple[tuple[int, ...], ...],
    dict[str, list[tuple[Any, ...]]],
    # goals, events, funnels (name, steps): named tuples as plain ones
    tuple[
        tuple[tuple[Any, ...], ...],
        tuple[tuple[Any, ...], ...],
        tuple[tuple[str, tuple[tuple[Any, ...], ...]], ...],
    ],
]


def _cached(key: Callable[[], str], period: Period, compute: Callable[[], T]) -> T:
    if period.key == "realtime":
        return compute()  # a moving 30-minute window: nothing to reuse
    return stats_cache.cached(key, compute, live=_live(period))


def _plan(
    website: Website, period: Period, filters: Filters, *, hourly: bool = False, daily: bool = False
) -> tuple[planner.StoredFilter, planner.Plan]:
    """(snapshot filter, plan); a plan with only a raw part when snapshots cannot answer."""
    sfilter = planner.snapshot_filter(filters)
    if period.key == "realtime" or isinstance(sfilter, str) or planner.is_raw_only():
        return None, planner.Plan(raw=[(period.start, period.end)])
    state = planner.state_of(website)
    if hourly:
        return sfilter, state.plan_hours(period)
    return sfilter, state.plan_days(period, months=not daily)


def _snapshot_part(
    website: Website,
    plan: planner.Plan,
    name: str,
    filters: Filters,
    compute: Callable[[Ranges, Ranges], T],
    merge: Callable[[list[T]], T],
) -> T:
    """``compute(ranges)`` over the plan's snapshot ranges: the closed days' share cached
    for long (it only changes with a repair), the rest computed; ``merge`` adds them."""
    (closed_days, months), live = plan.split_closed()
    parts = []
    if closed_days or months:
        key = stats_cache.closed_key(
            website.id, plan.repairs, name, closed_days, months, filters.active()
        )
        parts.append(stats_cache.cached(key, lambda: compute(closed_days, months), live=False))
    if live:
        parts.append(compute(live, []))
    return merge(parts)


def _add_dicts(parts: list[dict[K, list[int]]]) -> dict[K, list[int]]:
    out: dict[K, list[int]] = {}
    for part in parts:
        for k, values in part.items():
            if k in out:
                out[k] = [a + b for a, b in zip(out[k], values, strict=True)]
            else:
                out[k] = list(values)
    return out


def _add_summaries(parts: list[dict[str, int]]) -> dict[str, int]:
    total = measures.zero()
    for part in parts:
        for k in total:
            total[k] += part[k]
    return total


@contextlib.contextmanager
def one_read() -> Iterator[None]:
    """The questions asked inside (a dashboard page: the bundle, then its goals, events and
    funnel panels) share the watermarks and the snapshot rows, read once."""
    with planner.one_state():
        yield


def dashboard(
    website: Website, period: Period, *, filters: Filters = NO_FILTERS, limit: int = 10
) -> dict[str, Any]:
    """Everything one dashboard view shows: the summary and the previous period's, the
    chart, every breakdown, the goals and custom events (top ``limit``) and every funnel,
    cached together under one key in a compact form, so a warm dashboard is one cache round
    trip. The refresh job warms it."""
    previous = period.previous()

    def compute() -> Packed:
        with planner.one_state():  # the watermarks and snapshot rows are read once for all
            current = _summary(website, period, filters)
            return _pack(
                current,
                _summary(website, previous, filters),
                _timeseries(website, period, filters),
                {
                    d.breakdown: _breakdown(
                        website, period, d.breakdown, filters, None if d.every_row else limit
                    )
                    for d in DIMENSIONS
                },
                _goals(website, period, filters, limit, current.visitors),
                _events(website, period, filters, limit),
                [(f.name, _funnel(website, period, f, filters)) for f in funnel_list(website)],
            )

    if not stats_cache.enabled():
        packed = compute()
    elif period.key == "realtime":
        # Its range moves every second: one answer per window and latest event, shared by
        # every open realtime view of the website (a new event makes a new key).
        window = int(period.end.timestamp()) // REALTIME_SHARE_SECONDS
        # The bucket count too: a range ending exactly on a minute has one bucket fewer.
        minutes = len(_buckets(period))
        packed = stats_cache.cached(
            lambda: stats_cache.make_key(
                website.id,
                "realtime",
                window,
                minutes,
                _latest_event(website),
                filters.active(),
                limit,
            ),
            compute,
            live=True,
        )
    else:
        packed = stats_cache.cached(
            lambda: stats_cache.make_key(
                website.id, "dashboard-5", _sig(period), _sig(previous), filters.active(), limit
            ),
            compute,
            live=_live(period),
        )
    return _unpack(packed, period)


def _pack(
    current: Summary,
    previous: Summary,
    points: list[Point],
    rows: dict[str, list[Row]],
    goal_rows: list[GoalRow],
    event_rows: list[EventRow],
    funnels: list[tuple[str, list[FunnelStep]]],
) -> Packed:
    """Plain tuples of ints and strings: quick to pickle and unpickle."""
    return (
        tuple(asdict(current).values()),
        tuple(asdict(previous).values()),
        # Columns, not rows (times: buckets(period)): rebuilt by C-level map/zip below.
        (
            tuple(p.pageviews for p in points),
            tuple(p.visitors for p in points),
            tuple(p.sessions for p in points),
            tuple(p.bounces for p in points),
            tuple(p.duration_s for p in points),
        ),
        {d: [tuple(r) for r in rs] for d, rs in rows.items()},
        (
            tuple(map(tuple, goal_rows)),
            tuple(map(tuple, event_rows)),
            tuple((name, tuple(map(tuple, steps))) for name, steps in funnels),
        ),
    )


# The last bundles this process rebuilt, by period: a warm read whose bundle from the cache
# equals one of them (compared in C) reuses its chart points and rows instead of rebuilding
# them (a 2-year chart has 730). Still one cache round trip per read: the cache decides
# what is current. Shared values are immutable (named tuples, a frozen dataclass); the
# lists are copied.
_REBUILT_MAX = 64
_rebuilt: dict[tuple[Hashable, ...], tuple[Packed, list[Point], dict[str, list[Row]]]] = {}


def _unpack(packed: Packed, period: Period) -> dict[str, Any]:
    current, previous, points, rows, (goal_rows, event_rows, funnels) = packed
    memo_key = (period.start, period.end, str(period.tz), period.granularity)
    memo = _rebuilt.get(memo_key)
    if memo is not None and memo[0] == packed:
        timeseries, breakdowns = memo[1], memo[2]
    else:
        # tuple.__new__ mapped in C: a named tuple's own __new__ is a Python function.
        new = tuple.__new__
        timeseries = list(
            map(
                new,
                itertools.repeat(Point),
                zip(_buckets(period), *points, strict=True),
            )
        )
        breakdowns = {d: list(map(new, itertools.repeat(Row), rs)) for d, rs in rows.items()}
        if len(_rebuilt) >= _REBUILT_MAX:
            _rebuilt.clear()
        _rebuilt[memo_key] = (packed, timeseries, breakdowns)
    return {
        "summary": Summary(*current),
        "previous": Summary(*previous),
        "timeseries": list(timeseries),
        "breakdowns": {d: list(rs) for d, rs in breakdowns.items()},
        "goals": [GoalRow(*r) for r in goal_rows],
        "events": [EventRow(*r) for r in event_rows],
        "funnels": [(name, [FunnelStep(*r) for r in steps]) for name, steps in funnels],
    }


# --- public reads ---------------------------------------------------------------------


def summary(website: Website, period: Period, *, filters: Filters = NO_FILTERS) -> Summary:
    """Headline numbers for ``period`` (see the module docstring for each definition)."""
    return _cached(
        lambda: _summary_key(website, period, filters),
        period,
        lambda: _summary(website, period, filters),
    )


def _summary(website: Website, period: Period, filters: Filters) -> Summary:
    sfilter, plan = _plan(website, period, filters)
    total = measures.zero()
    parts = []
    if plan.has_snapshots():
        parts.append(
            _snapshot_part(
                website,
                plan,
                "summary-3",
                filters,
                lambda days, months: planner.snap_summary(website, days, months, sfilter),
                _add_summaries,
            )
        )
    parts += [raw.summary(website.id, lo, hi, filters) for lo, hi in plan.raw]
    for part in parts:
        for k in total:
            total[k] += part[k]
    return Summary(**total)


def buckets(period: Period, granularity: Granularity | None = None) -> list[dt.datetime]:
    """Bucket starts of ``period`` at ``granularity`` (default: its own), aware in the
    website's time zone."""
    tz = period.tz
    granularity = granularity or period.granularity
    if granularity == "day":
        return [
            dt.datetime.combine(period.first_day + dt.timedelta(days=i), dt.time(), tz)
            for i in range(period.days)
        ]
    step = dt.timedelta(minutes=1) if granularity == "minute" else dt.timedelta(hours=1)
    # Step in UTC so DST days have 23 or 25 hourly buckets, each a real hour.
    t = period.start.replace(second=0, microsecond=0)
    if granularity == "hour":
        t = t.replace(minute=0)
    out = []
    while t < period.end:
        out.append(t.astimezone(tz))
        t += step
    return out


def _buckets(period: Period, granularity: Granularity | None = None) -> list[dt.datetime]:
    return _buckets_of(
        period.start, period.end, period.tz, granularity or period.granularity, period.key
    )


@functools.lru_cache(maxsize=256)
def _buckets_of(
    start: dt.datetime, end: dt.datetime, tz: ZoneInfo, granularity: Granularity, key: str
) -> list[dt.datetime]:
    """``buckets`` memoised by what determines them (warm reads rebuild no datetimes)."""
    return buckets(
        Period(
            key,
            start,
            end,
            tz,
            start.astimezone(tz).date(),
            (end - dt.timedelta(microseconds=1)).astimezone(tz).date(),
        ),
        granularity,
    )


def timeseries(
    website: Website,
    period: Period,
    *,
    filters: Filters = NO_FILTERS,
    interval: intervals.Interval | None = None,
) -> list[Point]:
    """Page views, visitors, sessions, bounces and session duration per bucket.

    ``interval``: minute, hour, day, week or month (which ones a period allows:
    ``stats.intervals``); by default the period's granularity (see ``Period``). Every bucket
    of the period is present (zeros included). Visitors per bucket are the distinct
    visitors of the sessions started in it; they add up over days, not hours. Week and
    month buckets are sums of day buckets; the first starts on the period's first day (a
    partial bucket when that is not a Monday or a 1st). With session filters only, page
    views are those of the matching sessions, counted in the bucket their session started
    in. Cached per period, filters and interval.
    """
    chosen = interval or period.granularity
    return _cached(
        lambda: _timeseries_key(website, period, filters, chosen),
        period,
        lambda: _timeseries_at(website, period, filters, chosen),
    )


def compared_timeseries(
    website: Website,
    period: Period,
    compare: intervals.Compare,
    *,
    filters: Filters = NO_FILTERS,
    interval: intervals.Interval | None = None,
) -> list[Point | None]:
    """For each bucket of ``timeseries(period, interval)``, the numbers of the bucket it is
    compared with: the same local days or wall-clock hours of
    ``intervals.compared_period`` (a week compares with the same seven days shifted). A
    point's ``t`` is the compared bucket's start; None where the compared dates do not exist
    (29 February a year earlier, an hour skipped by a clock change). The compared period's
    series is one cached ``timeseries`` read."""
    chosen = interval or period.granularity
    granularity = intervals.base(chosen)
    other = intervals.compared_period(period, compare)
    found = {
        intervals.bucket_key(p.t, granularity): p
        for p in timeseries(website, other, filters=filters, interval=granularity)
    }
    to_key = intervals.compared_key(period, compare, granularity)
    matched = [
        None if (k := to_key(b)) is None else found.get(k) for b in _buckets(period, granularity)
    ]
    if chosen == granularity:
        return matched
    return _group(matched, period, chosen)


def _timeseries_at(
    website: Website, period: Period, filters: Filters, interval: intervals.Interval
) -> list[Point]:
    if interval in ("week", "month"):
        days = _timeseries(website, period, filters, "day")
        return [p for p in _group(days, period, interval) if p is not None]
    return _timeseries(website, period, filters, intervals.base(interval))


def _group(
    days: list[Point] | list[Point | None], period: Period, interval: intervals.Interval
) -> list[Point | None]:
    """Day points summed into the week or month buckets of ``intervals.spans``; a bucket
    starts at its first day's point (None when none of its days has one)."""
    out: list[Point | None] = []
    i = 0
    for first, last in intervals.spans(period, interval):
        n = (last - first).days + 1
        chunk = [p for p in days[i : i + n] if p is not None]
        i += n
        if not chunk:
            out.append(None)
            continue
        sums = [sum(column) for column in zip(*(p[1:] for p in chunk), strict=True)]
        out.append(Point(chunk[0].t, *sums))
    return out


def _timeseries(
    website: Website, period: Period, filters: Filters, granularity: Granularity | None = None
) -> list[Point]:
    granularity = granularity or period.granularity
    daily = granularity == "day"
    # Day buckets are summed by local date (from the database as dates: cheap to hash);
    # hour and minute buckets by their start.
    key: Callable[[dt.datetime], dt.date | dt.datetime] = (
        dt.datetime.date if daily else (lambda b: b)
    )
    sfilter, plan = _plan(website, period, filters, hourly=granularity == "hour", daily=True)
    data: dict[dt.date | dt.datetime, list[int]] = {}
    if plan.snapshots:
        snap: dict[dt.date, list[int]] | dict[dt.datetime, list[int]]
        if daily:
            snap = _snapshot_part(
                website,
                plan,
                "timeseries-days-2",
                filters,
                lambda days, _months: planner.snap_days(website, days, sfilter),
                _add_dicts,
            )
        else:
            snap = planner.snap_timeseries(website, granularity, plan.snapshots, sfilter)
        for k, values in snap.items():
            data[k] = list(values)
    for lo, hi in plan.raw:
        for b, values in raw.timeseries(
            website.id, lo, hi, filters, granularity, period.tz
        ).items():
            acc = data.get(key(b))
            data[key(b)] = (
                values if acc is None else [a + v for a, v in zip(acc, values, strict=True)]
            )
    zero = (0,) * (len(Point._fields) - 1)  # every measure after the bucket start
    new = tuple.__new__  # a named tuple's own __new__ is a Python function
    return [new(Point, (b, *data.get(key(b), zero))) for b in _buckets(period, granularity)]


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
    by_breakdown(dimension)  # raises ValueError for an unknown one
    return _cached(
        lambda: _breakdown_key(website, period, dimension, filters, limit),
        period,
        lambda: _breakdown(website, period, dimension, filters, limit),
    )


def _breakdown(
    website: Website, period: Period, breakdown: str, filters: Filters, limit: int | None
) -> list[Row]:
    dimension = by_breakdown(breakdown)
    sfilter, plan = _plan(website, period, filters)
    if isinstance(sfilter, tuple) and dimension.name != sfilter[0]:
        plan = planner.Plan(raw=[(period.start, period.end)])  # rows cannot cross dimensions
    acc: dict[str, list[int]] = defaultdict(lambda: [0] * len(measures.TOTALS))
    if plan.has_snapshots():
        value = sfilter[1] if isinstance(sfilter, tuple) else None
        snap = _snapshot_part(
            website,
            plan,
            f"breakdown-2:{breakdown}",
            filters,
            lambda days, months: planner.snap_rows(website, days, months, dimension, value),
            _add_dicts,
        )
        for v, values in snap.items():
            acc[v] = list(values)
    events = dimension.describes == Describes.EVENTS
    for lo, hi in plan.raw:
        if events:
            for v, (pv, vis, *reports) in raw.page_rows(
                website.id, lo, hi, filters, period.tz
            ).items():
                a = acc[v]
                a[0] += pv
                a[1] += vis
                for i, n in enumerate(reports, start=3):
                    a[i] += n
        else:
            for v, (pv, vis, n, *_rest) in raw.session_rows(
                website.id, lo, hi, filters, dimension
            ).items():
                a = acc[v]
                a[0] += pv
                a[1] += vis
                a[2] += n
    rows = [
        Row(v, vis, pv, None, *reports) if events else Row(v, vis, pv, n)
        for v, (pv, vis, n, *reports) in acc.items()
        if not (dimension.tagged_only and v == "")  # untagged traffic is not a campaign
    ]
    return _sort(rows, limit)


def current_visitors(website: Website, *, now: dt.datetime | None = None) -> int:
    """Distinct visitors with an event in the last 5 minutes (cached for a few seconds:
    every open dashboard asks, and the answer moves by the minute)."""
    now = now or dt.datetime.now(dt.UTC)
    since = now - dt.timedelta(minutes=CURRENT_VISITORS_MINUTES)

    def compute() -> int:
        return (
            Session.objects.filter(website=website, last_seen_at__gte=since)
            .values("visitor_id")
            .distinct()
            .count()
        )

    if not stats_cache.enabled():
        return compute()
    slot = int(now.timestamp()) // CURRENT_VISITORS_CACHE_SECONDS
    return stats_cache.cached(
        lambda: stats_cache.make_key(website.id, "current-visitors", slot), compute, live=True
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


def _latest_event(website: Website) -> tuple[dt.datetime, int] | None:
    """The newest stored event's time and id (one step down the website's time index)."""
    return (
        Event.objects.filter(website=website)
        .order_by("-created_at")
        .values_list("created_at", "id")
        .first()
    )


def has_data(website: Website) -> bool:
    """Whether the website ever received an event (raw data may already be rolled up)."""
    return (
        website.first_event_at is not None
        or Event.objects.filter(website=website).exists()
        or Snapshot.objects.filter(website=website).exists()
    )


# --- custom events, goals and funnels ---------------------------------------------------


class EventRow(NamedTuple):
    value: str
    visitors: int
    events: int


class GoalRow(NamedTuple):
    value: str  # the goal's display name
    visitors: int  # converting visitors
    events: int
    conversion_rate: float | None  # converting visitors / visitors


class FunnelStep(NamedTuple):
    value: str  # the step's goal
    visits: int
    conversion_rate: float | None  # from the first step
    dropoff_rate: float | None  # from the previous step


RawValues = Callable[[dt.datetime, dt.datetime], dict[str, list[int]]]


def _conversion_values(
    website: Website,
    period: Period,
    stored: str,
    filters: Filters,
    compute_raw: RawValues,
    prefix: str = "",
) -> dict[str, list[int]]:
    """Value -> [events, visitors] of one ``stats.conversions`` dimension: closed days from
    the stored rows, the rest from raw data. Stored rows are unfiltered: with filters, raw."""
    _, plan = _plan(website, period, filters)
    if filters.active():
        plan = planner.Plan(raw=[(period.start, period.end)])
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    if plan.has_snapshots():
        snap = _snapshot_part(
            website,
            plan,
            f"conversions-2:{stored}:{prefix}",
            filters,
            lambda days, months: planner.snap_values(website, days, months, stored, prefix),
            _add_dicts,
        )
        for v, (n, vis, *_rest) in snap.items():
            if v.startswith(prefix):  # SQLite's LIKE ignores case
                acc[v] = [n, vis]
    for lo, hi in plan.raw:
        for v, (n, vis) in compute_raw(lo, hi).items():
            if v.startswith(prefix):
                acc[v][0] += n
                acc[v][1] += vis
    return dict(acc)


def _conversion_key(website: Website, period: Period, filters: Filters, *what: Any) -> str:
    # Goals and funnels are not part of the key: saving or deleting one bumps the versions.
    return stats_cache.make_key(website.id, "conversions", _sig(period), filters.active(), *what)


def events(
    website: Website, period: Period, *, filters: Filters = NO_FILTERS, limit: int | None = 10
) -> list[EventRow]:
    """Custom events by name: their visitors (per local day, summed) and how many were sent."""
    return _cached(
        lambda: _conversion_key(website, period, filters, "events", limit),
        period,
        lambda: _events(website, period, filters, limit),
    )


def _events(
    website: Website, period: Period, filters: Filters, limit: int | None
) -> list[EventRow]:
    found = _conversion_values(
        website,
        period,
        conversions.EVENT,
        filters,
        lambda lo, hi: conversions.event_rows(website.id, lo, hi, filters, period.tz),
    )
    rows = [EventRow(v, vis, n) for v, (n, vis) in found.items()]
    rows.sort(key=lambda r: (-r.visitors, -r.events, r.value))
    return rows if limit is None else rows[:limit]


def properties(
    website: Website,
    period: Period,
    event_name: str,
    *,
    filters: Filters = NO_FILTERS,
    limit: int | None = 10,
) -> list[tuple[str, str, int, int]]:
    """The property values sent with one custom event: (key, value, visitors, events)."""

    def compute() -> list[tuple[str, str, int, int]]:
        prefix = conversions.prop_value(event_name, "", "")[: -len("0:")]
        found = _conversion_values(
            website,
            period,
            conversions.PROP,
            filters,
            lambda lo, hi: conversions.prop_rows(website.id, lo, hi, filters, period.tz),
            prefix,
        )
        rows = []
        for stored, (n, vis) in found.items():
            name, key, value = conversions.split_prop_value(stored)
            if name == event_name:
                rows.append((key, value, vis, n))
        rows.sort(key=lambda r: (r[0], -r[2], -r[3], r[1]))
        return rows if limit is None else rows[:limit]

    return _cached(
        lambda: _conversion_key(website, period, filters, "props", event_name, limit),
        period,
        compute,
    )


def goals(
    website: Website, period: Period, *, filters: Filters = NO_FILTERS, limit: int | None = 10
) -> list[GoalRow]:
    """Every goal of the website: converting visitors (per local day, summed), matching
    events or page views, and the conversion rate (converting visitors / visitors)."""
    return _cached(
        lambda: _conversion_key(website, period, filters, "goals", limit),
        period,
        lambda: _goals(
            website, period, filters, limit, summary(website, period, filters=filters).visitors
        ),
    )


def _goals(
    website: Website, period: Period, filters: Filters, limit: int | None, visitors: int
) -> list[GoalRow]:
    defined = list(goal_list(website))
    found = _conversion_values(
        website,
        period,
        conversions.GOAL,
        filters,
        lambda lo, hi: conversions.goal_rows(website.id, lo, hi, filters, period.tz, defined),
    )
    rows = []
    for goal in defined:
        n, vis = found.get(str(goal.id), (0, 0))
        rows.append(GoalRow(goal.name, vis, n, vis / visitors if visitors else None))
    rows.sort(key=lambda r: (-r.visitors, -r.events, r.value))
    return rows if limit is None else rows[:limit]


def funnel(
    website: Website, period: Period, funnel: Funnel, *, filters: Filters = NO_FILTERS
) -> list[FunnelStep]:
    """The visits that reached each step of the funnel in order, within the visit; visits
    count in the period in which they started."""
    return _cached(
        lambda: _conversion_key(website, period, filters, "funnel", funnel.id),
        period,
        lambda: _funnel(website, period, funnel, filters),
    )


def _funnel(website: Website, period: Period, funnel: Funnel, filters: Filters) -> list[FunnelStep]:
    found = _conversion_values(
        website,
        period,
        conversions.FUNNEL,
        filters,
        lambda lo, hi: conversions.funnel_rows(website.id, lo, hi, filters, [funnel]),
        conversions.funnel_step(funnel.id, 0)[:-1],
    )
    out: list[FunnelStep] = []
    first = previous = 0
    for k, step in enumerate(funnel.steps.all(), start=1):
        visits = found.get(conversions.funnel_step(funnel.id, k), [0, 0])[0]
        if k == 1:
            first = previous = visits
        out.append(
            FunnelStep(
                step.goal.name,
                visits,
                visits / first if first else None,
                1 - visits / previous if previous else None,
            )
        )
        previous = visits
    return out


def funnel_json(
    website: Website, period: Period, funnel_def: Funnel, *, filters: Filters = NO_FILTERS
) -> dict[str, Any]:
    """The funnel JSON of the public contract (``stats --funnel``)."""
    return {
        "funnel": funnel_def.name,
        "steps": [
            {
                "value": step.value,
                "visits": step.visits,
                "conversion_rate": _round(step.conversion_rate, 4),
                "dropoff_rate": _round(step.dropoff_rate, 4),
            }
            for step in funnel(website, period, funnel_def, filters=filters)
        ],
    }


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
        "avg_engaged_time_s": _round(s.avg_engaged_time_s),
        "bounce_rate": _round(s.bounce_rate, 4),
        "views_per_session": _round(s.views_per_session),
    }
    for dimension in PUBLIC_BREAKDOWNS:
        out[dimension] = [
            row_json(r) for r in breakdown(website, period, dimension, filters=filters, limit=limit)
        ]
    out["goals"] = goals_json(website, period, filters=filters, limit=limit)
    out["events"] = [r._asdict() for r in events(website, period, filters=filters, limit=limit)]
    return out


def goals_json(
    website: Website, period: Period, *, filters: Filters = NO_FILTERS, limit: int | None = 10
) -> list[dict[str, Any]]:
    return [
        {**r._asdict(), "conversion_rate": _round(r.conversion_rate, 4)}
        for r in goals(website, period, filters=filters, limit=limit)
    ]


def timeseries_json(
    website: Website,
    period: Period,
    *,
    filters: Filters = NO_FILTERS,
    interval: intervals.Interval | None = None,
) -> list[dict[str, Any]]:
    """The time series of the public contract; ``visit_duration_s`` is the bucket's
    average session duration, ``bounce_rate`` a fraction (both null without sessions)."""
    return [
        {
            "t": p.t.isoformat(),
            "pageviews": p.pageviews,
            "visitors": p.visitors,
            "sessions": p.sessions,
            "bounce_rate": _round(p.bounce_rate, 4),
            "visit_duration_s": _round(p.avg_session_duration_s),
        }
        for p in timeseries(website, period, filters=filters, interval=interval)
    ]


def row_json(row: Row) -> dict[str, Any]:
    data: dict[str, Any] = {"value": row.value, "visitors": row.visitors}
    data["pageviews"] = row.pageviews
    if row.sessions is not None:
        data["sessions"] = row.sessions
    else:  # a page
        data["time_on_page_s"] = _round(row.time_on_page_s)
        data["scroll_depth_pct"] = _round(row.scroll_depth_pct, 1)
    return data


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
