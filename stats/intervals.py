"""Chart intervals and comparisons: which bucket sizes a period may be drawn at, the week
and month buckets, and the period a chart is compared with.

A period is drawn at its own granularity by default (``Period.granularity``: minutes for
realtime, hours up to two days, days beyond). It may also be drawn:

- by ``hour``: periods of up to ``HOUR_MAX_DAYS`` (7) days, at most 168 buckets;
- by ``day``: periods of ``DAY_MIN_DAYS`` (2) days or more;
- by ``week``: periods of ``WEEK_MIN_DAYS`` (14) days or more; weeks start on Monday;
- by ``month``: periods of ``MONTH_MIN_DAYS`` (56) days or more: calendar months.

Realtime is drawn by minute only, without a comparison. Week and month buckets are sums of
local days (visitors are salted per local day, so the sum is exact); a range that starts or
ends inside a week or month makes its first or last bucket partial.

Comparisons (``COMPARES``): ``previous`` is the same number of whole days just before
(``Period.previous()`` without the cut of a running period: the chart shows the whole
compared day); ``year`` is the same dates one year earlier, where 29 February has none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from typing import Literal

from core.calendar import add_months, next_month
from stats.periods import Granularity, Period, for_days

Interval = Literal["minute", "hour", "day", "week", "month"]
Compare = Literal["previous", "year"]
INTERVALS: tuple[Interval, ...] = ("hour", "day", "week", "month")
COMPARES: tuple[Compare, ...] = ("previous", "year")
HOUR_MAX_DAYS = 7
DAY_MIN_DAYS = 2
WEEK_MIN_DAYS = 14
MONTH_MIN_DAYS = 56


class IntervalError(ValueError):
    """An interval or comparison a period does not allow; the message says which it does."""


def allowed(period: Period) -> tuple[Interval, ...]:
    """The intervals ``period`` may be drawn at, shortest first."""
    if period.key == "realtime":
        return ("minute",)
    days = period.days
    out: list[Interval] = []
    if days <= HOUR_MAX_DAYS:
        out.append("hour")
    if days >= DAY_MIN_DAYS:
        out.append("day")
    if days >= WEEK_MIN_DAYS:
        out.append("week")
    if days >= MONTH_MIN_DAYS:
        out.append("month")
    return tuple(out)


def parse(value: str | None, period: Period) -> Interval:
    """The interval a query string asks for; none (or empty) is the period's granularity.
    Raises ``IntervalError`` for an unknown or, for this period, unavailable one."""
    if not value:
        return period.granularity
    for interval in allowed(period):
        if interval == value:
            return interval
    raise IntervalError(f"interval must be one of {', '.join(allowed(period))} for this period")


def parse_compare(value: str | None, period: Period) -> Compare | None:
    """``previous``, ``year`` or None (no comparison; always so for realtime)."""
    if not value or period.key == "realtime":
        if value and value not in COMPARES:
            raise IntervalError(f"compare must be one of {', '.join(COMPARES)}")
        return None
    for compare in COMPARES:
        if compare == value:
            return compare
    raise IntervalError(f"compare must be one of {', '.join(COMPARES)}")


def base(interval: Interval) -> Granularity:
    """The granularity the buckets of ``interval`` are read at (weeks and months: days)."""
    if interval == "week" or interval == "month":
        return "day"
    return interval


def spans(period: Period, interval: Interval) -> list[tuple[dt.date, dt.date]]:
    """First and last local day (inclusive) of each week or month bucket of ``period``."""
    starts = [period.first_day]
    day = period.first_day
    while True:
        if interval == "week":
            day = day + dt.timedelta(days=7 - day.weekday())
        else:
            day = next_month(day)
        if day > period.last_day:
            break
        starts.append(day)
    ends = [d - dt.timedelta(days=1) for d in starts[1:]] + [period.last_day]
    return list(zip(starts, ends, strict=True))


def is_partial(first: dt.date, last: dt.date, interval: Interval) -> bool:
    """Whether a week or month bucket lacks some of its days (the range cuts it)."""
    if interval == "week":
        return first.weekday() != 0 or (last - first).days != 6
    if interval == "month":
        return first.day != 1 or last + dt.timedelta(days=1) != next_month(first)
    return False


def year_earlier(day: dt.date) -> dt.date | None:
    """The same date one year earlier; None for 29 February."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return None


def compared_period(period: Period, compare: Compare) -> Period:
    """Whole local days: the same number just before, or the same dates a year earlier."""
    if compare == "previous":
        shift = dt.timedelta(days=period.days)
        return for_days(period.first_day - shift, period.last_day - shift, period.tz)
    return for_days(add_months(period.first_day, -12), add_months(period.last_day, -12), period.tz)


BucketKey = Hashable


def bucket_key(t: dt.datetime, granularity: Granularity) -> BucketKey:
    """A bucket start as the wall clock reads it: a date for days, otherwise the local time
    and its fold (the repeated hour when clocks go back)."""
    if granularity == "day":
        return t.date()
    return (t.replace(tzinfo=None, fold=0), t.fold)


def compared_key(
    period: Period, compare: Compare, granularity: Granularity
) -> Callable[[dt.datetime], BucketKey | None]:
    """Maps a bucket start of ``period`` to the key of the bucket it is compared with."""
    days = dt.timedelta(days=period.days)

    def shift(day: dt.date) -> dt.date | None:
        return day - days if compare == "previous" else year_earlier(day)

    def key(t: dt.datetime) -> BucketKey | None:
        day = shift(t.date())
        if day is None:
            return None
        if granularity == "day":
            return day
        naive = dt.datetime.combine(day, t.time().replace(fold=0))
        return (naive, t.fold)

    return key
