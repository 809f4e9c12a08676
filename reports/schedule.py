"""Which period a report covers and when it is due, in the website's time zone.

Weekly: the last whole Monday-Sunday week; monthly: the last whole calendar month. A report
is due from ``EMAIL_REPORTS_HOUR`` local time on the day after its period (Monday, the 1st)
until the next period takes its place, so a job that was down catches up.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings

from reports.models import Frequency
from stats.periods import Period, for_days


def report_period(frequency: str, today: dt.date, tz: ZoneInfo) -> Period:
    """The last whole week or month that ended before the local day ``today``."""
    if frequency == Frequency.WEEKLY:
        monday = today - dt.timedelta(days=today.weekday())
        first, last = monday - dt.timedelta(days=7), monday - dt.timedelta(days=1)
    else:
        last = today.replace(day=1) - dt.timedelta(days=1)
        first = last.replace(day=1)
    return for_days(first, last, tz, key="custom")


def send_at(period: Period, *, hour: int | None = None) -> dt.datetime:
    """When the report of ``period`` becomes due: the given local hour of the next day."""
    hour = settings.EMAIL_REPORTS_HOUR if hour is None else hour
    day = period.last_day + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=period.tz).astimezone(dt.UTC)


def due_period(frequency: str, tz: ZoneInfo, *, now: dt.datetime) -> Period | None:
    """The period whose report is due at ``now`` (aware), or None before its local hour."""
    period = report_period(frequency, now.astimezone(tz).date(), tz)
    return period if now >= send_at(period) else None
