"""``Period``: a date range in a website's time zone, its granularity, and its previous period.

Periods are half-open ``[start, end)`` in aware UTC datetimes, built from whole local days
of the website's time zone (except ``realtime``: the last 30 minutes). They are parsed from
query strings and validated here; a bad value raises ``PeriodError`` (a 400 for callers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

from core.calendar import add_months, local_midnight

Granularity = Literal["minute", "hour", "day"]
PERIODS = {
    "realtime": "Realtime (last 30 minutes)",
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "month": "This month",
    "last_month": "Last month",
    "12m": "Last 12 months",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "30d"
REALTIME_MINUTES = 30
MAX_CUSTOM_DAYS = 3 * 366
EARLIEST = dt.date(2000, 1, 1)


class PeriodError(ValueError):
    """A period, date or time zone in a query string is invalid; the message says why."""


@dataclass(frozen=True)
class Period:
    key: str
    start: dt.datetime  # aware UTC, inclusive
    end: dt.datetime  # aware UTC, exclusive
    tz: ZoneInfo
    first_day: dt.date  # local, inclusive (realtime: the local day of start)
    last_day: dt.date  # local, inclusive
    # Set when the period is still running (today, this month, ...): the time it was asked.
    now: dt.datetime | None = None

    @property
    def label(self) -> str:
        if self.key == "custom":
            return f"{self.first_day:%d %b %Y} – {self.last_day:%d %b %Y}"
        return PERIODS[self.key]

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def granularity(self) -> Granularity:
        """Minutes for realtime, hours for up to two days, days beyond."""
        if self.key == "realtime":
            return "minute"
        return "hour" if self.days <= 2 else "day"

    def previous(self) -> Period:
        """The period of the same length that ends where this one starts.

        For a running period (today, this month, ...) the previous one is cut to the same
        elapsed time, in whole minutes: today until 14:05 compares with yesterday until 14:05.
        """
        if self.key == "realtime":
            length = self.end - self.start
            return Period(
                "realtime", self.start - length, self.start, self.tz, self.first_day, self.last_day
            )
        days = dt.timedelta(days=self.days)
        previous = for_days(self.first_day - days, self.last_day - days, self.tz, key="custom")
        if self.now is not None and self.now < self.end:
            # Whole minutes, so the previous period (and its cache key) holds for a minute.
            elapsed = dt.timedelta(minutes=(self.now - self.start) // dt.timedelta(minutes=1))
            previous = replace(previous, end=min(previous.end, previous.start + elapsed))
        return previous

    def as_query(self) -> dict[str, str]:
        if self.key == "custom":
            return {
                "period": "custom",
                "from": self.first_day.isoformat(),
                "to": self.last_day.isoformat(),
            }
        return {"period": self.key}


def for_days(first: dt.date, last: dt.date, tz: ZoneInfo, *, key: str = "custom") -> Period:
    """Whole local days ``first`` to ``last`` inclusive."""
    return Period(
        key,
        local_midnight(first, tz),
        local_midnight(last + dt.timedelta(days=1), tz),
        tz,
        first,
        last,
    )


def parse_date(value: str, name: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise PeriodError(f"{name} must be a date like 2026-01-31, got {value!r}") from None
    if day < EARLIEST or day > dt.date(2100, 1, 1):
        raise PeriodError(f"{name} is out of range")
    return day


def from_query(
    params: Mapping[str, Any], tz: ZoneInfo, *, now: dt.datetime | None = None
) -> Period:
    """The period a query string asks for (``period``, and ``from``/``to`` for custom).

    ``from`` and ``to`` without ``period`` mean a custom range. Raises PeriodError.
    """
    get = params.get
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    key = get("period") or ("custom" if get("from") or get("to") else DEFAULT_PERIOD)
    if key not in PERIODS:
        raise PeriodError(f"period must be one of {', '.join(PERIODS)}")
    if key != "custom" and (get("from") or get("to")):
        raise PeriodError("from and to go with period=custom (or without a period)")
    period = _named_period(key, get, tz, now)
    if period.key != "realtime" and period.end > now:
        period = replace(period, now=now)
    return period


def _named_period(key: str, get: Callable[[str], Any], tz: ZoneInfo, now: dt.datetime) -> Period:
    today = now.astimezone(tz).date()
    if key == "realtime":
        start = now - dt.timedelta(minutes=REALTIME_MINUTES)
        return Period("realtime", start, now, tz, start.astimezone(tz).date(), today)
    if key == "today":
        return for_days(today, today, tz, key=key)
    if key == "yesterday":
        day = today - dt.timedelta(days=1)
        return for_days(day, day, tz, key=key)
    if key == "7d":
        return for_days(today - dt.timedelta(days=6), today, tz, key=key)
    if key == "30d":
        return for_days(today - dt.timedelta(days=29), today, tz, key=key)
    if key == "month":
        return for_days(today.replace(day=1), today, tz, key=key)
    if key == "last_month":
        last = today.replace(day=1) - dt.timedelta(days=1)
        return for_days(last.replace(day=1), last, tz, key=key)
    if key == "12m":
        return for_days(add_months(today, -12) + dt.timedelta(days=1), today, tz, key=key)
    if not get("from") or not get("to"):
        raise PeriodError("a custom range needs from and to (YYYY-MM-DD)")
    first, last = parse_date(get("from"), "from"), parse_date(get("to"), "to")
    if first > last:
        raise PeriodError("from must not be after to")
    if (last - first).days + 1 > MAX_CUSTOM_DAYS:
        raise PeriodError(f"a custom range may span at most {MAX_CUSTOM_DAYS} days")
    return for_days(first, last, tz, key="custom")
