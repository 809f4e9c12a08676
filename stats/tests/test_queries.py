"""Every metric's definition, on hand-built sessions (see the stats.queries docstring)."""

from __future__ import annotations

import contextlib
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from simple_analytics.testing import IPHONE_UA, make_website, record_events
from stats import planner, queries
from stats.filters import Filters
from stats.periods import PeriodError, for_days, from_query

pytestmark = pytest.mark.django_db
UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")
D = dt.datetime(2026, 2, 3, 10, tzinfo=UTC)
S = dt.timedelta(seconds=1)


def ev(type_, path, at, **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, **extra}


def day(website, d: dt.date):
    return for_days(d, d, website.tz)


def test_bounce_duration_and_views_per_session():
    website = make_website()
    record_events(
        website,
        [
            # Visitor A: two pages and an exit -> no bounce, 100 s.
            ev("PAGE_VIEW", "/a", D),
            ev("PATH_CHANGE", "/b", D + 40 * S),
            ev("PAGE_EXIT", "/b", D + 100 * S, engaged_ms=50_000),
            # Visitor B: one page and an exit -> bounce with a real duration of 30 s.
            ev("PAGE_VIEW", "/a", D, ip="198.51.100.2"),
            ev("PAGE_EXIT", "/a", D + 30 * S, ip="198.51.100.2"),
            # Visitor C: one page, no exit -> bounce of 0 s.
            ev("PAGE_VIEW", "/c", D, ip="198.51.100.3"),
        ],
    )
    s = queries.summary(website, day(website, D.date()))
    assert (s.pageviews, s.visitors, s.sessions, s.bounces) == (4, 3, 3, 2)
    assert s.bounce_rate == pytest.approx(2 / 3)
    assert s.avg_session_duration_s == pytest.approx(130 / 3)
    assert s.views_per_session == pytest.approx(4 / 3)
    assert s.exit_share == pytest.approx(2 / 3)


def test_a_custom_event_is_no_page_view_but_ends_a_bounce_and_can_open_a_session():
    website = make_website()
    signup = {"name": "Signup", "props": {"plan": "pro"}}
    record_events(
        website,
        [
            # Visitor A: one page and a custom event -> not a bounce, 30 s.
            ev("PAGE_VIEW", "/a", D),
            ev("EVENT", "/a", D + 10 * S, **signup),
            ev("PAGE_EXIT", "/a", D + 30 * S),
            # Visitor B: one page and an exit -> a bounce.
            ev("PAGE_VIEW", "/a", D, ip="198.51.100.2"),
            ev("PAGE_EXIT", "/a", D + 20 * S, ip="198.51.100.2"),
            # Visitor C: a custom event alone -> a session of no page views, no bounce.
            ev("EVENT", "/pricing", D, ip="198.51.100.3", **signup),
        ],
    )
    period = day(website, D.date())
    call_command("rollup", verbosity=0)
    for reads in (planner.raw_only, contextlib.nullcontext):  # raw data, then snapshots
        with reads():
            s = queries.summary(website, period)
            entries = queries.breakdown(website, period, "entry_pages", limit=None)
            pages = queries.breakdown(website, period, "pages", limit=None)
        assert (s.pageviews, s.visitors, s.sessions, s.bounces) == (2, 3, 3, 1)
        assert s.views_per_session == pytest.approx(2 / 3)
        assert {(r.value, r.sessions, r.pageviews) for r in entries} == {
            ("/a", 2, 2),
            ("/pricing", 1, 0),
        }
        assert [(r.value, r.pageviews) for r in pages] == [("/a", 2)]


def test_empty_periods_have_no_rates():
    website = make_website()
    s = queries.summary(website, day(website, D.date()))
    assert (s.pageviews, s.visitors, s.sessions) == (0, 0, 0)
    assert (
        s.bounce_rate is None and s.avg_session_duration_s is None and s.views_per_session is None
    )


def test_a_visitor_returning_on_another_day_counts_again_but_not_on_the_same_day():
    website = make_website()
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/", D),
            ev("PAGE_VIEW", "/", D + dt.timedelta(hours=2)),  # same day, new session
            ev("PAGE_VIEW", "/", D + dt.timedelta(days=1)),  # next day
        ],
    )
    assert queries.summary(website, day(website, D.date())).visitors == 1
    assert queries.summary(website, day(website, D.date())).sessions == 2
    two_days = for_days(D.date(), D.date() + dt.timedelta(days=1), website.tz)
    s = queries.summary(website, two_days)
    assert (s.visitors, s.sessions) == (2, 3)
    # Visitors over whole days are exactly the sum of the daily figures.
    daily = [
        queries.summary(website, day(website, D.date() + dt.timedelta(days=i))).visitors
        for i in range(2)
    ]
    assert s.visitors == sum(daily)


def test_local_days_follow_the_website_time_zone():
    website = make_website(timezone="Europe/Berlin")
    late = dt.datetime(2026, 2, 3, 23, 30, tzinfo=UTC)  # 00:30 on the 4th in Berlin
    record_events(website, [ev("PAGE_VIEW", "/", late)])
    assert queries.summary(website, day(website, dt.date(2026, 2, 3))).pageviews == 0
    assert queries.summary(website, day(website, dt.date(2026, 2, 4))).pageviews == 1
    series = queries.timeseries(
        website, for_days(dt.date(2026, 2, 3), dt.date(2026, 2, 5), website.tz)
    )
    assert [(p.t.date().isoformat(), p.pageviews) for p in series] == [
        ("2026-02-03", 0),
        ("2026-02-04", 1),
        ("2026-02-05", 0),
    ]


def test_a_session_crossing_midnight_counts_on_its_start_day_and_views_on_their_own():
    website = make_website(timezone="Europe/Berlin")
    before = dt.datetime(2026, 2, 3, 23, 55, tzinfo=BERLIN)
    record_events(
        website, [ev("PAGE_VIEW", "/a", before), ev("PATH_CHANGE", "/b", before + 10 * 60 * S)]
    )
    first, second = (day(website, dt.date(2026, 2, d)) for d in (3, 4))
    s1, s2 = queries.summary(website, first), queries.summary(website, second)
    assert (s1.sessions, s1.visitors, s1.pageviews) == (1, 1, 1)
    assert (s2.sessions, s2.visitors, s2.pageviews) == (0, 0, 1)


def test_hourly_series_on_a_dst_day_has_23_real_hours():
    website = make_website(timezone="Europe/Berlin")
    spring = dt.date(2026, 3, 29)  # clocks jump from 02:00 to 03:00
    record_events(website, [ev("PAGE_VIEW", "/", dt.datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN))])
    series = queries.timeseries(website, day(website, spring))
    assert len(series) == 23
    hits = [(p.t.hour, p.pageviews) for p in series if p.pageviews]
    assert hits == [(3, 1)]


def test_previous_period_is_the_same_length_just_before():
    website = make_website()
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/", D - dt.timedelta(days=7, hours=1)),
            ev("PAGE_VIEW", "/", D, ip="198.51.100.5"),
            ev("PAGE_VIEW", "/x", D, ip="198.51.100.6"),
        ],
    )
    period = from_query({"period": "7d"}, website.tz, now=D)
    previous = period.previous()
    assert (previous.first_day, previous.last_day) == (
        period.first_day - dt.timedelta(days=7),
        period.last_day - dt.timedelta(days=7),
    )
    assert queries.summary(website, period).pageviews == 2
    assert queries.summary(website, previous).pageviews == 1


def test_page_filter_keeps_that_pages_views_and_the_sessions_that_saw_it():
    website = make_website()
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/a", D),
            ev("PATH_CHANGE", "/b", D + S),
            ev("PAGE_VIEW", "/c", D, ip="198.51.100.2"),
        ],
    )
    s = queries.summary(website, day(website, D.date()), filters=Filters(page="/b"))
    assert (s.pageviews, s.sessions, s.visitors) == (1, 1, 1)


def test_session_filters_keep_the_sessions_and_their_page_views():
    website = make_website()
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/a", D, user_agent=IPHONE_UA),
            ev("PATH_CHANGE", "/b", D + S, user_agent=IPHONE_UA),
            ev("PAGE_VIEW", "/c", D, referrer="https://www.google.com/"),
        ],
    )
    period = day(website, D.date())
    mobile = queries.summary(website, period, filters=Filters(device="mobile"))
    assert (mobile.pageviews, mobile.sessions) == (2, 1)
    direct = queries.summary(website, period, filters=Filters.from_query({"source": "(none)"}))
    assert (direct.pageviews, direct.sessions) == (2, 1)
    google = queries.breakdown(website, period, "sources")
    assert [(r.value, r.sessions) for r in google] == [("", 1), ("Google", 1)]


def test_breakdowns_sort_by_visitors_then_pageviews_and_pages_count_views():
    website = make_website()
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/a", D),
            ev("PATH_CHANGE", "/a", D + S),  # replaceState to the same path is still a view
            ev("PAGE_VIEW", "/b", D, ip="198.51.100.2"),
            ev("PAGE_VIEW", "/b", D, ip="198.51.100.3"),
        ],
    )
    rows = queries.breakdown(website, day(website, D.date()), "pages")
    assert [(r.value, r.visitors, r.pageviews) for r in rows] == [("/b", 2, 2), ("/a", 1, 2)]
    entry = queries.breakdown(website, day(website, D.date()), "entry_pages", limit=1)
    assert [(r.value, r.sessions, r.pageviews) for r in entry] == [("/b", 2, 2)]


def test_current_visitors_are_those_seen_in_the_last_5_minutes():
    website = make_website()
    now = D + dt.timedelta(hours=1)
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/", now - dt.timedelta(minutes=4)),
            ev("PAGE_VIEW", "/", now - dt.timedelta(minutes=6), ip="198.51.100.2"),
        ],
    )
    assert queries.current_visitors(website, now=now) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"period": "decade"},
        {"period": "custom", "from": "2026-01-01"},
        {"from": "x", "to": "y"},
        {"from": "1999-01-01", "to": "1999-01-02"},
        {"from": "2026-02-02", "to": "2026-02-01"},
    ],
)
def test_bad_periods_raise_period_error(params):
    with pytest.raises(PeriodError):
        from_query(params, UTC)


def test_a_running_period_compares_with_the_same_elapsed_time_before():
    now = dt.datetime(2026, 2, 3, 14, 5, tzinfo=UTC)
    today = from_query({"period": "today"}, UTC, now=now)
    previous = today.previous()
    assert previous.start == dt.datetime(2026, 2, 2, tzinfo=UTC)
    assert previous.end == dt.datetime(2026, 2, 2, 14, 5, tzinfo=UTC)
    closed = from_query({"period": "yesterday"}, UTC, now=now).previous()
    assert closed.end - closed.start == dt.timedelta(days=1)


def test_from_and_to_belong_to_custom_ranges():
    with pytest.raises(PeriodError, match="period=custom"):
        from_query({"period": "7d", "from": "2026-01-01", "to": "2026-01-02"}, UTC)
