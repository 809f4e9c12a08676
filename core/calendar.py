"""Calendar arithmetic shared by periods, the planner and the rollups: local midnights,
months and UTC hours. Pure functions over aware datetimes; no models, no settings."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The start of local ``day`` in ``tz``, as an aware UTC datetime."""
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def local_day(instant: dt.datetime, tz: ZoneInfo) -> dt.date:
    return instant.astimezone(tz).date()


def day_start(instant: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The local midnight (aware UTC) that starts the local day holding ``instant``."""
    return local_midnight(local_day(instant, tz), tz)


def hour_start(instant: dt.datetime) -> dt.datetime:
    """The UTC hour holding ``instant`` (aware UTC)."""
    return instant.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months, clamped to the end of a shorter month."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")
