"""Chart intervals and comparisons are exact: week and month buckets equal raw data over
their days, every bucket's bounces and duration from snapshots equal raw data, and weeks
across a clock change hold seven local days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from rollups import fill
from rollups.models import Granularity, Snapshot
from simple_analytics.testing import make_website, record_events
from stats import intervals, planner, queries
from stats.filters import NO_FILTERS, Filters
from stats.periods import for_days, from_query

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")
FIRST, LAST = dt.date(2026, 2, 18), dt.date(2026, 4, 22)  # a Wednesday to a Wednesday
ROLLED_AT = dt.datetime(2026, 4, 25, 12, tzinfo=dt.UTC)
DST_DAY = dt.date(2026, 3, 29)  # clocks go from 02:00 to 03:00 in Berlin


def _visits(day: dt.date, k: int) -> list[dict[str, object]]:
    """A few visits a day, varied by ``k``: bounces with and without an exit, visits of
    several pages, some from Google, one crossing local midnight now and then."""
    out: list[dict[str, object]] = []
    for v in range(k % 4 + 1):
        ip = f"198.51.100.{v + 1}"
        at = dt.datetime.combine(day, dt.time(1 + (k * 5 + v * 7) % 23, (k * 13) % 60), BERLIN)
        referrer = "https://www.google.com/" if (k + v) % 3 == 0 else ""
        out.append(
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/",
                "at": at,
                "ip": ip,
                "referrer": referrer,
            }
        )
        pages = (k + v) % 3
        for n in range(pages):
            out.append(
                {
                    "type": "PATH_CHANGE",
                    "url": f"https://example.com/p{n}",
                    "at": at + dt.timedelta(seconds=30 * (n + 1)),
                    "ip": ip,
                }
            )
        if (k + v) % 2:
            out.append(
                {
                    "type": "PAGE_EXIT",
                    "url": "https://example.com/",
                    "at": at + dt.timedelta(seconds=30 * pages + 45),
                    "ip": ip,
                    "engaged_ms": 20_000,
                }
            )
    if k % 9 == 0:  # a visit that starts before local midnight and ends after it
        late = dt.datetime.combine(day, dt.time(23, 50), BERLIN)
        out += [
            {"type": "PAGE_VIEW", "url": "https://example.com/late", "at": late, "ip": "192.0.2.9"},
            {
                "type": "PATH_CHANGE",
                "url": "https://example.com/later",
                "at": late + dt.timedelta(minutes=20),
                "ip": "192.0.2.9",
            },
        ]
    return out


HOURS_UNTIL = dt.datetime(2026, 3, 30, tzinfo=BERLIN)  # hourly snapshots: the hours tested


@pytest.fixture(scope="module")
def website(django_db_setup, django_db_blocker):
    """Nine weeks of traffic rolled into daily (and some hourly) snapshots, made once for
    the module: rolling up hours is the slow part."""
    # Hours from 9 March on only (retention as of ROLLED_AT): the hours the tests read.
    with django_db_blocker.unblock(), override_settings(HOURLY_RETENTION_DAYS=47):
        website = make_website(timezone="Europe/Berlin", domain="example.com")
        events = []
        for k in range((LAST - FIRST).days + 1):
            events += _visits(FIRST + dt.timedelta(days=k), k)
        record_events(website, events)
        fill.rollup(website, Granularity.HOUR, now=ROLLED_AT, until=HOURS_UNTIL)
        fill.rollup(website, Granularity.DAY, now=ROLLED_AT)
        assert Snapshot.objects.filter(website=website, granularity=Granularity.DAY).exists()
    yield website
    with django_db_blocker.unblock():
        owner = website.owner
        website.delete()
        owner.delete()


@pytest.fixture(autouse=True)
def _hourly_snapshots_kept(settings):
    settings.HOURLY_RETENTION_DAYS = 3650  # so the planner reads the hours of these dates


def _measures(point: queries.Point) -> tuple[int, ...]:
    return tuple(point[1:])


def _raw_sum(website, first: dt.date, last: dt.date, filters=NO_FILTERS) -> tuple[int, ...]:
    with planner.raw_only():
        s = queries.summary(website, for_days(first, last, website.tz), filters=filters)
    return (s.pageviews, s.visitors, s.sessions, s.bounces, s.duration_s)


def test_the_intervals_a_period_allows():
    tz = BERLIN
    now = dt.datetime(2026, 6, 10, 12, tzinfo=dt.UTC)

    def allowed(**query):
        return intervals.allowed(from_query(query, tz, now=now))

    assert allowed(period="realtime") == ("minute",)
    assert allowed(period="today") == ("hour",)
    assert allowed(period="7d") == ("hour", "day")
    assert allowed(period="30d") == ("day", "week")
    assert allowed(period="12m") == ("day", "week", "month")
    assert allowed(**{"from": "2026-01-01", "to": "2026-02-25"}) == ("day", "week", "month")
    assert allowed(**{"from": "2026-01-01", "to": "2026-02-24"}) == ("day", "week")
    period = from_query({"period": "30d"}, tz, now=now)
    assert intervals.parse(None, period) == "day" and intervals.parse("week", period) == "week"
    for bad in ("hour", "month", "fortnight", "DAY"):
        with pytest.raises(intervals.IntervalError, match="day, week"):
            intervals.parse(bad, period)
    assert intervals.parse_compare("year", period) == "year"
    assert intervals.parse_compare(None, period) is None
    with pytest.raises(intervals.IntervalError):
        intervals.parse_compare("last", period)
    realtime = from_query({"period": "realtime"}, tz, now=now)
    assert intervals.parse_compare("previous", realtime) is None


def test_weeks_start_on_monday_and_months_on_the_first_with_partial_ends():
    period = for_days(dt.date(2026, 3, 4), dt.date(2026, 5, 5), BERLIN)
    weeks = intervals.spans(period, "week")
    assert weeks[0] == (dt.date(2026, 3, 4), dt.date(2026, 3, 8))
    assert weeks[1] == (dt.date(2026, 3, 9), dt.date(2026, 3, 15))
    assert weeks[-1] == (dt.date(2026, 5, 4), dt.date(2026, 5, 5))
    assert all(first.weekday() == 0 for first, _ in weeks[1:])
    assert [intervals.is_partial(a, b, "week") for a, b in weeks].count(True) == 2
    months = intervals.spans(period, "month")
    assert months == [
        (dt.date(2026, 3, 4), dt.date(2026, 3, 31)),
        (dt.date(2026, 4, 1), dt.date(2026, 4, 30)),
        (dt.date(2026, 5, 1), dt.date(2026, 5, 5)),
    ]
    assert [intervals.is_partial(a, b, "month") for a, b in months] == [True, False, True]


@pytest.mark.parametrize("interval", ["week", "month"])
@pytest.mark.parametrize("filters", [NO_FILTERS, Filters(source="Google")])
def test_week_and_month_buckets_equal_raw_data_over_their_days(website, interval, filters):
    period = for_days(FIRST, LAST, website.tz)
    series = queries.timeseries(website, period, filters=filters, interval=interval)
    spans = intervals.spans(period, interval)
    assert [p.t.date() for p in series] == [first for first, _ in spans]
    assert all(
        p.t.tzinfo is not None and p.t.utcoffset() == p.t.astimezone(BERLIN).utcoffset()
        for p in series
    )
    for point, (first, last) in zip(series, spans, strict=True):
        assert _measures(point) == _raw_sum(website, first, last, filters), (first, last)
    # The sum of the day buckets, too (and of the whole period).
    days = queries.timeseries(website, period, filters=filters, interval="day")
    assert [sum(col) for col in zip(*map(_measures, series), strict=True)] == [
        sum(col) for col in zip(*map(_measures, days), strict=True)
    ]
    assert tuple(sum(col) for col in zip(*map(_measures, series), strict=True)) == _raw_sum(
        website, FIRST, LAST, filters
    )


@pytest.mark.parametrize(
    "first, last, interval",
    [
        (FIRST, LAST, "day"),
        (dt.date(2026, 3, 10), dt.date(2026, 3, 16), "hour"),
        (DST_DAY, DST_DAY, "hour"),
        (dt.date(2026, 3, 2), dt.date(2026, 4, 12), "week"),
    ],
)
@pytest.mark.parametrize("filters", [NO_FILTERS, Filters(source="Google")])
def test_every_buckets_bounces_and_duration_from_snapshots_equal_raw_data(
    website, first, last, interval, filters
):
    period = for_days(first, last, website.tz)
    got = queries.timeseries(website, period, filters=filters, interval=interval)
    with planner.raw_only():
        expected = queries.timeseries(website, period, filters=filters, interval=interval)
    assert got == expected
    assert sum(p.bounces for p in got) > 0 and sum(p.duration_s for p in got) > 0
    state = planner.State(website)
    plan = state.plan_hours(period) if interval == "hour" else state.plan_days(period)
    assert plan.has_snapshots() and not plan.raw  # snapshots answered every bucket
    if interval != "hour" and not filters.active():
        assert any(p.bounce_rate is not None and 0 < p.bounce_rate < 1 for p in got)


def test_the_daily_snapshots_answer_without_raw_data(website):
    """Bounces and durations of days come from the stored rows, not from raw sessions."""
    period = for_days(dt.date(2026, 3, 2), dt.date(2026, 3, 29), website.tz)
    with_raw = queries.timeseries(website, period, interval="week")
    snap = planner.snap_days(website, [(period.start, period.end)], None)
    assert sum(v[3] for v in snap.values()) == sum(p.bounces for p in with_raw)
    assert sum(v[4] for v in snap.values()) == sum(p.duration_s for p in with_raw)


def test_a_week_across_the_clock_change_holds_seven_local_days(website):
    monday, sunday = dt.date(2026, 3, 23), DST_DAY
    period = for_days(monday - dt.timedelta(days=7), sunday + dt.timedelta(days=7), website.tz)
    weeks = queries.timeseries(website, period, interval="week")
    assert [p.t.date() for p in weeks] == [
        monday - dt.timedelta(days=7),
        monday,
        monday + dt.timedelta(days=7),
    ]
    assert weeks[1].t.utcoffset() == dt.timedelta(hours=1)  # the week starts in winter time
    assert weeks[2].t.utcoffset() == dt.timedelta(hours=2)
    assert _measures(weeks[1]) == _raw_sum(website, monday, sunday)
    hours = queries.timeseries(website, for_days(monday, sunday, website.tz), interval="hour")
    assert len(hours) == 7 * 24 - 1
    assert sum(p.pageviews for p in hours) == weeks[1].pageviews
    assert sum(p.sessions for p in hours) == weeks[1].sessions


def test_the_previous_period_is_compared_bucket_by_bucket(website):
    period = for_days(dt.date(2026, 3, 25), dt.date(2026, 4, 21), website.tz)  # 28 days
    weeks = queries.timeseries(website, period, interval="week")
    compared = queries.compared_timeseries(website, period, "previous", interval="week")
    assert len(compared) == len(weeks) == 5
    shift = dt.timedelta(days=28)
    for then, (first, last) in zip(compared, intervals.spans(period, "week"), strict=True):
        assert then is not None and then.t.date() == first - shift
        assert _measures(then) == _raw_sum(website, first - shift, last - shift)
    days = queries.compared_timeseries(website, period, "previous")
    assert [p.t.date() for p in days if p] == [
        dt.date(2026, 2, 25) + dt.timedelta(days=i) for i in range(28)
    ]


def test_hours_compare_with_the_same_wall_clock_hours(website):
    period = for_days(DST_DAY, DST_DAY, website.tz)
    compared = queries.compared_timeseries(website, period, "previous")
    now = queries.timeseries(website, period)
    assert len(compared) == len(now) == 23
    assert [p.t.hour for p in compared if p] == [p.t.hour for p in now]
    assert all(p and p.t.date() == dt.date(2026, 3, 28) for p in compared)
    expected = queries.timeseries(
        website, for_days(dt.date(2026, 3, 28), dt.date(2026, 3, 28), website.tz)
    )
    by_hour = {p.t.hour: p for p in expected}
    assert [_measures(p) for p in compared if p] == [_measures(by_hour[p.t.hour]) for p in now]


def test_a_year_earlier_has_no_29_february():
    website = make_website(timezone="Europe/Berlin")
    period = for_days(dt.date(2028, 2, 27), dt.date(2028, 3, 1), website.tz)
    compared = queries.compared_timeseries(website, period, "year")
    assert [p and p.t.date() for p in compared] == [
        dt.date(2027, 2, 27),
        dt.date(2027, 2, 28),
        None,
        dt.date(2027, 3, 1),
    ]
    assert intervals.compared_period(period, "year").first_day == dt.date(2027, 2, 27)


def test_the_interval_is_part_of_the_cache_key(website, settings):
    settings.STATS_CACHE = True
    period = for_days(FIRST, LAST, website.tz)
    days = queries.timeseries(website, period)
    weeks = queries.timeseries(website, period, interval="week")
    assert len(days) == period.days and len(weeks) == 10
    assert queries.timeseries(website, period, interval="week") == weeks
    assert queries.timeseries(website, period) == days


def test_the_json_items_carry_bounce_rate_and_visit_duration(website):
    period = for_days(dt.date(2026, 3, 2), dt.date(2026, 3, 15), website.tz)
    items = queries.timeseries_json(website, period, interval="week")
    assert len(items) == 2
    points = queries.timeseries(website, period, interval="week")
    for item, p in zip(items, points, strict=True):
        assert item["bounce_rate"] == round(p.bounces / p.sessions, 4)
        assert item["visit_duration_s"] == round(p.duration_s / p.sessions, 2)
    empty = queries.timeseries_json(
        website,
        for_days(LAST + dt.timedelta(days=30), LAST + dt.timedelta(days=31), website.tz),
        interval="day",
    )
    assert empty[0]["bounce_rate"] is None and empty[0]["visit_duration_s"] is None
