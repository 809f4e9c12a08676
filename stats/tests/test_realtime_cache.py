"""The realtime view is shared: one computation per 5 s window and latest event, whatever
the number of open views; a new event makes the next read compute again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from simple_analytics.testing import make_website, record_events
from stats import cache as stats_cache
from stats import queries
from stats.periods import from_query

pytestmark = pytest.mark.django_db


def view(website, at):
    return {"type": "PAGE_VIEW", "url": f"https://example.com/{at:%M%S}", "at": at}


def test_views_in_one_window_share_an_answer_until_an_event_arrives(settings):
    settings.STATS_CACHE = True
    cache.clear()
    stats_cache.forget()
    website = make_website()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    now -= dt.timedelta(seconds=now.second % queries.REALTIME_SHARE_SECONDS)  # a window's start
    if now.second == 0:  # a range ending exactly on a minute has a bucket fewer: another key
        now -= dt.timedelta(seconds=queries.REALTIME_SHARE_SECONDS)
    record_events(website, [view(website, now - dt.timedelta(minutes=3))])

    def read(at):
        period = from_query({"period": "realtime"}, website.tz, now=at)
        with CaptureQueriesContext(connection) as ctx:
            data = queries.dashboard(website, period)
        return data["summary"].pageviews, len(ctx.captured_queries)

    first, computed = read(now)
    again, shared = read(now + dt.timedelta(seconds=queries.REALTIME_SHARE_SECONDS - 1))
    assert first == again == 1
    assert shared < computed and shared <= 2  # the versions (memoised) and the latest event

    record_events(website, [view(website, now - dt.timedelta(minutes=1))])
    assert read(now + dt.timedelta(seconds=2))[0] == 2  # the same window, a new event
    later, recomputed = read(now + dt.timedelta(seconds=queries.REALTIME_SHARE_SECONDS))
    assert later == 2 and recomputed > shared  # the next window computes again
