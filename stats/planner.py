"""Query planning: which parts of a period snapshots answer and which raw data answers.

For a period ``[start, end)`` in a website's time zone:

- whole local days before the daily watermark (closed, rolled up) come from daily
  snapshots, and so does a not-yet-closed day whose snapshot the refresh job wrote in the
  last ``OPEN_SNAPSHOT_MAX_AGE_SECONDS`` (the open day while traffic flows);
- hourly charts take closed hours from hourly snapshots;
- everything else (the open day when no fresh snapshot exists, part-days such as the
  previous period of "today until 14:05", minutes) comes from raw data.

Filters: a single session filter "is" one value (entry/exit page, source, UTM, browser, ...)
is answered from the breakdown rows of that dimension; the page filter, other operators,
several values (visitors do not add up across values), several filters, and
breakdowns of one dimension filtered by another need raw data (kept
``RAW_RETENTION_DAYS``). All measures add up across the pieces: visitors are salted per
local day, so distinct visitors of whole days are the sum of the days (see rollups.models).
A part-day whose raw data is already deleted is answered by its whole day's snapshot.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from core.calendar import DAY, HOUR, day_start, hour_start, local_midnight, next_month
from rollups.models import Granularity, Snapshot, SnapshotRow, Watermark, retention_horizon
from stats import measures
from stats.conversions import PROP
from stats.dimensions import Dimension
from stats.filters import Filters
from stats.periods import Period
from websites.models import Website

Range = tuple[dt.datetime, dt.datetime]
RAW = "raw"
# What snapshots can filter by: nothing (None), or one session filter (dimension, value).
StoredFilter = tuple[str, str] | None
# A ``StoredFilter``, or ``RAW`` when only raw data can answer the filters.
SnapshotFilter = StoredFilter | str
_raw_only: contextvars.ContextVar[bool] = contextvars.ContextVar("raw_only", default=False)


@contextlib.contextmanager
def raw_only() -> Iterator[None]:
    """Answer everything from raw data, bypassing snapshots and the cache: the reference
    the equivalence tests and the benchmark baseline compare against."""
    from stats import cache

    token = _raw_only.set(True)
    try:
        with cache.bypass():
            yield
    finally:
        _raw_only.reset(token)


def is_raw_only() -> bool:
    return _raw_only.get()


def snapshot_filter(filters: Filters) -> SnapshotFilter:
    """None (no filter), (dimension, value) for one session filter, or ``RAW``."""
    if not filters:
        return None
    return filters.single_session_value() or RAW


@dataclass
class Plan:
    snapshots: list[Range] = field(default_factory=list)  # whole days: daily snapshots
    raw: list[Range] = field(default_factory=list)
    months: list[Range] = field(default_factory=list)  # whole closed months: monthly ones
    # Daily plans: snapshots before ``closed_until`` can only change with a repair.
    closed_until: dt.datetime | None = None
    repairs: int = 0

    def add(self, kind: str, lo: dt.datetime, hi: dt.datetime) -> None:
        ranges = {"snap": self.snapshots, "raw": self.raw, "month": self.months}[kind]
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((lo, hi))

    def has_snapshots(self) -> bool:
        return bool(self.snapshots or self.months)

    def split_closed(self) -> tuple[tuple[list[Range], list[Range]], list[Range]]:
        """((closed days, months), days not closed yet): months are always closed."""
        if self.closed_until is None:
            return ([], list(self.months)), list(self.snapshots)
        closed, live = [], []
        for lo, hi in self.snapshots:
            if lo < self.closed_until:
                closed.append((lo, min(hi, self.closed_until)))
            if hi > self.closed_until:
                live.append((max(lo, self.closed_until), hi))
        return (closed, list(self.months)), live


_states: contextvars.ContextVar[dict[int, State] | None] = contextvars.ContextVar(
    "planner_states", default=None
)


@contextlib.contextmanager
def one_state() -> Iterator[None]:
    """Load each website's watermarks once for all the questions asked inside the block
    (a dashboard asks thirteen), and read the snapshot rows of all breakdowns of a range
    in one query. Inside another such block, the outer one's."""
    if _states.get() is not None:
        yield
        return
    token = _states.set({})
    try:
        yield
    finally:
        _states.reset(token)


def state_of(website: Website) -> State:
    memo = _states.get()
    if memo is None:
        return State(website)
    if website.id not in memo:
        memo[website.id] = State(website)
    return memo[website.id]


class State:
    """A website's watermarks, loaded once per question (or per ``one_state`` block)."""

    def __init__(self, website: Website, now: dt.datetime | None = None) -> None:
        self.website = website
        self.now = now or dt.datetime.now(dt.UTC)
        marks = {w.granularity: w for w in Watermark.objects.filter(website=website)}
        day, hour = marks.get(Granularity.DAY), marks.get(Granularity.HOUR)
        month = marks.get(Granularity.MONTH)
        self.day_from = day.covered_from if day else None
        self.day_until = day.closed_until if day else None
        self.raw_pruned_before = day.raw_pruned_before if day else None
        self.day_repairs = day.repairs if day else 0
        self.hour_from = hour.covered_from if hour else None
        self.hour_until = hour.closed_until if hour else None
        self.month_from = month.covered_from if month else None
        self.month_until = month.closed_until if month else None
        # Answers shared by the questions of one ``one_state`` block (a dashboard).
        self._plans: dict[tuple[dt.datetime, dt.datetime, str, bool], Plan] = {}
        self._rows: dict[tuple[tuple[Range, ...], ...], dict[str, dict[str, list[int]]]] = {}

    @cached_property
    def fresh_open_days(self) -> frozenset[dt.datetime]:
        """Starts of not-yet-closed days with a snapshot the refresh job wrote recently."""
        fresh_after = self.now - dt.timedelta(seconds=settings.OPEN_SNAPSHOT_MAX_AGE_SECONDS)
        # Only days the refresh job rewrites (``rollups.fill.refresh_open``): an older day
        # reopened (a late import, a new goal) is read raw until the rollup closes it again.
        settling = self.now - dt.timedelta(minutes=settings.SESSION_IDLE_MINUTES) - DAY
        qs = Snapshot.objects.filter(
            website=self.website,
            granularity=Granularity.DAY,
            computed_at__gte=fresh_after,
            start__gte=day_start(settling, self.website.tz),
        )
        if self.day_until is not None:
            qs = qs.filter(start__gte=self.day_until)
        return frozenset(qs.values_list("start", flat=True))

    def _closed_day(self, start: dt.datetime) -> bool:
        return (
            self.day_from is not None
            and self.day_until is not None
            and self.day_from <= start < self.day_until
        )

    def day_is_snapshot(self, start: dt.datetime) -> bool:
        if self._closed_day(start):
            return True
        if self.day_until is not None and start < self.day_until:
            return False  # closed but not covered (before the first rollup): raw
        return start in self.fresh_open_days

    def _closed_month(self, start: dt.datetime, end: dt.datetime) -> bool:
        return (
            self.month_from is not None
            and self.month_until is not None
            and self.month_from <= start
            and end <= self.month_until
        )

    def hour_is_snapshot(self, start: dt.datetime) -> bool:
        if self.hour_from is None or self.hour_until is None:
            return False
        horizon = retention_horizon(Granularity.HOUR, self.now)
        return max(self.hour_from, horizon) <= start < self.hour_until

    def plan_days(self, period: Period, *, months: bool = True) -> Plan:
        """Whole closed months (``months``), whole days, and raw part-days of ``period``.

        Made once per state and period: a dashboard's thirteen answers share it (a
        2-year plan walks hundreds of days in Python). Callers must not change it."""
        key = (period.start, period.end, period.tz.key, months)
        if key not in self._plans:
            self._plans[key] = self._plan_days(period, months=months)
        return self._plans[key]

    def rows_by_dimension(
        self, days: list[Range], months: list[Range]
    ) -> dict[str, dict[str, list[int]]]:
        """Every breakdown's snapshot rows over ``days`` and ``months``, read once."""
        key = (tuple(days), tuple(months))
        if key not in self._rows:
            self._rows[key] = _rows_by_dimension(self.website, days, months)
        return self._rows[key]

    def _plan_days(self, period: Period, *, months: bool) -> Plan:
        tz = period.tz
        plan = Plan(closed_until=self.day_until, repairs=self.day_repairs)
        day = period.start.astimezone(tz).date()
        last = (period.end - dt.timedelta(microseconds=1)).astimezone(tz).date()
        # The day after the period's last whole day.
        end_local = period.end.astimezone(tz)
        end_day = end_local.date() if end_local.time() == dt.time() else last
        while day <= last:
            a = local_midnight(day, tz)
            if months and day.day == 1:
                following = next_month(day)
                b = local_midnight(following, tz)
                if a >= period.start and b <= period.end and self._closed_month(a, b):
                    plan.add("month", a, b)
                    day = following
                    continue
            b = local_midnight(day + dt.timedelta(days=1), tz)
            lo, hi = max(a, period.start), min(b, period.end)
            whole = lo == a and hi == b
            run = None
            if whole and self.day_from is not None and a < self.day_from:
                # Days before the first daily snapshot: raw, as one run (a 2-year period's
                # previous period is all such days).
                run = ("raw", self.day_from)
            elif whole and self._closed_day(a):
                assert self.day_until is not None  # a closed day has a watermark
                run = ("snap", self.day_until)
            if run is not None:
                # Up to the run's boundary, the period's last whole day, or the next
                # month (which may be a closed month).
                kind, boundary = run
                stop = min(
                    boundary.astimezone(tz).date(),
                    end_day,
                    next_month(day) if months else dt.date.max,
                )
                stop = max(stop, day + dt.timedelta(days=1))
                plan.add(kind, a, local_midnight(stop, tz))
                day = stop
                continue
            if whole and self.day_is_snapshot(a):
                plan.add("snap", a, b)
            elif (
                not whole
                and self.raw_pruned_before is not None
                and a < self.raw_pruned_before
                and self.day_is_snapshot(a)
            ):
                plan.add("snap", a, b)  # raw data of this part-day is gone: whole day
            else:
                plan.add("raw", lo, hi)
            day += dt.timedelta(days=1)
        return plan

    def plan_hours(self, period: Period) -> Plan:
        plan = Plan()
        h = hour_start(period.start)
        while h < period.end:
            e = h + HOUR
            lo, hi = max(h, period.start), min(e, period.end)
            plan.add("snap" if lo == h and hi == e and self.hour_is_snapshot(h) else "raw", lo, hi)
            h = e
        return plan


def _in_ranges(ranges: list[Range]) -> Q:
    q = Q()
    for lo, hi in ranges:
        q |= Q(start__gte=lo, start__lt=hi)
    return q


def _buckets(days: list[Range], months: list[Range]) -> Q:
    """Daily buckets in ``days`` and monthly buckets in ``months``."""
    q = Q(granularity=Granularity.DAY) & _in_ranges(days) if days else Q(pk__in=[])
    if months:
        q |= Q(granularity=Granularity.MONTH) & _in_ranges(months)
    return q


def snap_summary(
    website: Website, days: list[Range], months: list[Range], sfilter: StoredFilter
) -> dict[str, int]:
    where = _buckets(days, months)
    if sfilter is None:
        agg = Snapshot.objects.filter(where, website=website).aggregate(
            **measures.sums(measures.SUMMARY)
        )
        return {k: v or 0 for k, v in agg.items()}
    dimension, value = sfilter
    agg = SnapshotRow.objects.filter(
        where, website=website, dimension=dimension, value=value
    ).aggregate(**measures.sums(measures.ROW))
    out = {k: v or 0 for k, v in agg.items()}
    out["session_pageviews"] = out["pageviews"]
    return out


def _series(
    website: Website, granularity: str, ranges: list[Range], sfilter: StoredFilter
) -> QuerySet[Snapshot] | QuerySet[SnapshotRow]:
    """Snapshots (or one filter's breakdown rows) of ``granularity`` in ``ranges``."""
    if sfilter is None:
        return Snapshot.objects.filter(_in_ranges(ranges), website=website, granularity=granularity)
    return SnapshotRow.objects.filter(
        _in_ranges(ranges),
        website=website,
        granularity=granularity,
        dimension=sfilter[0],
        value=sfilter[1],
    )


# A chart bucket's measures, in the order of ``stats.queries.Point``.
SERIES: tuple[str, ...] = ("pageviews", "visitors", "sessions", "bounces", "duration_s")


def snap_timeseries(
    website: Website, granularity: str, ranges: list[Range], sfilter: StoredFilter
) -> dict[dt.datetime, list[int]]:
    """Bucket start (aware, website time zone) -> the ``SERIES`` measures."""
    tz = website.tz
    qs = _series(website, granularity, ranges, sfilter)
    return {
        start.astimezone(tz): list(values) for start, *values in qs.values_list("start", *SERIES)
    }


def snap_days(
    website: Website, ranges: list[Range], sfilter: StoredFilter
) -> dict[dt.date, list[int]]:
    """Local day -> the ``SERIES`` measures of daily snapshots. The day comes from the
    database as a date: cheaper than parsing and converting 730 timestamps."""
    qs = _series(website, Granularity.DAY, ranges, sfilter)
    return {
        d: values
        for d, *values in qs.annotate(day=TruncDate("start", tzinfo=website.tz)).values_list(
            "day", *SERIES
        )
    }


# A breakdown value's totals, in the order of ``measures.TOTALS``.
_ROW_TOTALS = {f"t_{name}": Sum(name) for name in measures.TOTALS}


def snap_rows(
    website: Website,
    days: list[Range],
    months: list[Range],
    dimension: Dimension,
    value: str | None = None,
) -> dict[str, list[int]]:
    """Value -> ``measures.TOTALS`` of one breakdown over snapshots.

    Unfiltered inside ``one_state`` (a dashboard), the first breakdown reads the rows of
    every dimension at once: one query instead of one per breakdown."""
    stored = dimension.name
    states = _states.get()
    state = states.get(website.id) if states is not None else None
    if value is None and state is not None:
        rows = state.rows_by_dimension(days, months).get(stored, {})
        return {v: list(values) for v, values in rows.items()}
    qs = SnapshotRow.objects.filter(_buckets(days, months), website=website, dimension=stored)
    if value is not None:
        qs = qs.filter(value=value)
    return {
        v: [n or 0 for n in totals]
        for v, *totals in qs.values_list("value").annotate(**_ROW_TOTALS)
    }


def snap_values(
    website: Website,
    days: list[Range],
    months: list[Range],
    stored: str,
    prefix: str | None = None,
) -> dict[str, list[int]]:
    """Value -> ``measures.TOTALS`` of the rows of one stored dimension that
    is not in the registry (``stats.conversions``), values starting with ``prefix``.

    Inside ``one_state`` the dashboard's panels (events, goals, funnels) take their slice
    of the rows read once for every breakdown."""
    states = _states.get()
    state = states.get(website.id) if states is not None else None
    if state is not None and stored != PROP:
        rows = state.rows_by_dimension(days, months).get(stored, {})
        return {v: list(t) for v, t in rows.items() if not prefix or v.startswith(prefix)}
    qs = SnapshotRow.objects.filter(_buckets(days, months), website=website, dimension=stored)
    if prefix:
        qs = qs.filter(value__startswith=prefix)
    return {
        v: [n or 0 for n in totals]
        for v, *totals in qs.values_list("value").annotate(**_ROW_TOTALS)
    }


def _rows_by_dimension(
    website: Website, days: list[Range], months: list[Range]
) -> dict[str, dict[str, list[int]]]:
    """Stored dimension -> value -> ``measures.TOTALS``; property values, read
    only for one event at a time, are left out."""
    out: dict[str, dict[str, list[int]]] = {}
    qs = SnapshotRow.objects.filter(_buckets(days, months), website=website).exclude(dimension=PROP)
    for dim, v, *totals in qs.values_list("dimension", "value").annotate(**_ROW_TOTALS):
        out.setdefault(dim, {})[v] = [n or 0 for n in totals]
    return out
