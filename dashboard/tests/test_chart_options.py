"""The chart's options: metric, interval and comparison in the URL, validated, kept by every
link of the page, drawn (a dashed line for the comparison) and described."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from dashboard import charts, presenters
from simple_analytics.testing import record_events
from stats import queries
from stats.filters import NO_FILTERS
from stats.periods import for_days, from_query
from stats.queries import Point

BERLIN = ZoneInfo("Europe/Berlin")
NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
MARCH = {"period": "custom", "from": "2026-03-02", "to": "2026-03-29"}  # four whole weeks
OPTIONS = {"metric": "bounce_rate", "interval": "week", "compare": "previous"}


def ev(type_, path, at, **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, **extra}


pytestmark = pytest.mark.django_db


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def traffic(website):
    """Each Wednesday of March and of the four weeks before: a bounce, and a visit of two
    pages with an exit (so every week has a bounce rate of 50 %, both periods)."""
    events = []
    for week in range(8):
        at = dt.datetime(2026, 2, 4, 10, tzinfo=BERLIN) + dt.timedelta(weeks=week)
        events += [
            ev("PAGE_VIEW", "/", at, referrer="https://www.google.com/"),
            ev("PAGE_VIEW", "/", at, ip="198.51.100.2"),
            ev("PATH_CHANGE", "/pricing", at + dt.timedelta(seconds=40), ip="198.51.100.2"),
            ev("PAGE_EXIT", "/pricing", at + dt.timedelta(seconds=100), ip="198.51.100.2"),
        ]
    record_events(website, events)
    return website


def get(client, website, **query):
    return client.get(reverse("dashboard:overview", args=[website.pk]), query)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# --- view state -------------------------------------------------------------------------


def test_the_view_keeps_known_chart_options_and_drops_the_rest():
    assert presenters.view_state({**OPTIONS, "event": "Signup"}) == {**OPTIONS, "event": "Signup"}
    bad = {"metric": "revenue", "interval": "fortnight", "compare": "decade"}
    assert presenters.view_state(bad) == {}
    assert presenters.view_state({"metric": "", "interval": "Week"}) == {}
    assert set(presenters.VIEW_PARAMS) >= {"metric", "interval", "compare"}


def test_options_a_period_does_not_allow_fall_back_to_the_default():
    tz = BERLIN
    today = from_query({"period": "today"}, tz, now=NOW)
    options = presenters.chart_options(today, {"interval": "week", "compare": "year"})
    assert (options.metric, options.interval, options.compare) == ("visitors", "hour", "year")
    realtime = from_query({"period": "realtime"}, tz, now=NOW)
    options = presenters.chart_options(realtime, {"interval": "day", "compare": "previous"})
    assert (options.interval, options.compare) == ("minute", None)
    year = from_query({"period": "12m"}, tz, now=NOW)
    options = presenters.chart_options(year, {"interval": "month", "metric": "visit_duration"})
    assert (options.metric, options.interval) == ("visit_duration", "month")


def test_the_controls_offer_only_the_intervals_the_period_allows():
    path = "/websites/1/"

    def offered(**query):
        period = from_query(query, BERLIN, now=NOW)
        controls = presenters.chart_controls(path, period, NO_FILTERS, {})
        return [c.label for c in controls.intervals], [c.label for c in controls.compares]

    assert offered(period="today") == ([], ["Off", "Previous period", "A year earlier"])
    assert offered(period="7d")[0] == ["Hours", "Days"]
    assert offered(period="30d")[0] == ["Days", "Weeks"]
    assert offered(period="12m")[0] == ["Days", "Weeks", "Months"]
    assert offered(period="realtime") == ([], [])


def test_a_control_changes_one_option_keeps_the_others_and_marks_the_current():
    period = for_days(dt.date(2026, 3, 2), dt.date(2026, 3, 29), BERLIN)
    view = {"event": "Signup", **OPTIONS}
    controls = presenters.chart_controls("/w/", period, NO_FILTERS, view)
    assert [c.label for c in controls.metrics if c.current] == ["Bounce rate"]
    assert [c.label for c in controls.intervals if c.current] == ["Weeks"]
    assert [c.label for c in controls.compares if c.current] == ["Previous period"]
    visitors = next(c for c in controls.metrics if c.label == "Visitors")
    # The default leaves the URL; everything else stays.
    assert query_of(visitors.url) == {
        "period": "custom",
        "from": "2026-03-02",
        "to": "2026-03-29",
        "event": "Signup",
        "interval": "week",
        "compare": "previous",
    }
    off = next(c for c in controls.compares if c.label == "Off")
    assert "compare" not in query_of(off.url) and query_of(off.url)["metric"] == "bounce_rate"
    days = next(c for c in controls.intervals if c.label == "Days")
    assert "interval" not in query_of(days.url)


# --- the chart's geometry -----------------------------------------------------------------


def week_points(values: list[tuple[int, int, int]], start: dt.date) -> list[Point]:
    """(sessions, bounces, duration_s) per week from ``start``."""
    return [
        Point(
            dt.datetime.combine(start + dt.timedelta(weeks=i), dt.time(), BERLIN),
            pageviews=n * 2,
            visitors=n,
            sessions=n,
            bounces=b,
            duration_s=d,
        )
        for i, (n, b, d) in enumerate(values)
    ]


def test_bounce_rate_is_drawn_in_percent_with_gaps_and_a_dashed_comparison():
    now_points = week_points([(4, 2, 100), (0, 0, 0), (5, 1, 50), (2, 2, 0)], dt.date(2026, 3, 2))
    then_points = week_points([(2, 1, 10), (3, 3, 0), (4, 1, 40), (1, 0, 5)], dt.date(2026, 2, 2))
    chart = charts.build(
        now_points,
        granularity="week",
        period_days=28,
        now=NOW,
        metric="bounce_rate",
        compared=then_points,
        compare="previous",
        last_day=dt.date(2026, 3, 29),
    )
    assert chart.metric_label == "Bounce rate" and not chart.bars and chart.bars_svg == ""
    assert [t.label for t in chart.ticks] == ["0%", "25%", "50%", "75%", "100%"]
    # The second week has no sessions: no point, and the line breaks there.
    assert chart.line_points == 3 and chart.line.count("M") == 2
    assert chart.buckets[1].line_y == "" and chart.buckets[1].value == "—"
    assert chart.compare_points == 4 and chart.compare_line.count("L") == 3
    assert chart.compare_label == "Previous period"
    b = chart.buckets[0]
    assert (b.value, b.then, b.then_label) == ("50%", "50%", "2–8 Feb 2026")
    assert b.label == "2–8 Mar 2026"
    assert 'data-then="100%"' in chart.hits_svg and 'data-then-label="9–15 Feb 2026"' in (
        chart.hits_svg
    )
    assert chart.hits_svg.count("data-ty=") == 4


def test_partial_weeks_and_months_are_labelled_as_such():
    start = dt.date(2026, 3, 4)  # a Wednesday
    points = [
        Point(dt.datetime.combine(d, dt.time(), BERLIN), 1, 1, 1)
        for d in (start, dt.date(2026, 3, 9), dt.date(2026, 3, 16))
    ]
    chart = charts.build(
        points, granularity="week", period_days=14, now=NOW, last_day=dt.date(2026, 3, 17)
    )
    assert [b.label for b in chart.buckets] == [
        "4–8 Mar 2026 (partial week)",
        "9–15 Mar 2026",
        "16–17 Mar 2026 (partial week)",
    ]
    months = charts.build(
        [
            Point(dt.datetime.combine(d, dt.time(), BERLIN), 1, 1, 1)
            for d in (dt.date(2026, 1, 20), dt.date(2026, 2, 1), dt.date(2026, 3, 1))
        ],
        granularity="month",
        period_days=60,
        now=NOW,
        last_day=dt.date(2026, 3, 20),
    )
    assert [b.label for b in months.buckets] == [
        "January 2026 (partial: 20–31 Jan 2026)",
        "February 2026",
        "March 2026 (partial: 1–20 Mar 2026)",
    ]
    assert [x.text for x in months.xlabels] == ["Jan 2026", "Feb", "Mar"]


def test_visit_duration_ticks_read_as_durations():
    points = week_points([(2, 0, 300), (1, 1, 30)], dt.date(2026, 3, 2))
    chart = charts.build(
        points, granularity="week", period_days=14, now=NOW, metric="visit_duration"
    )
    assert chart.ticks[-1].label == "2m 30s"
    assert [b.value for b in chart.buckets] == ["2m 30s", "30s"]


def test_the_default_chart_is_unchanged_by_the_options_machinery():
    points = week_points([(1, 0, 0), (3, 1, 9)], dt.date(2026, 3, 2))
    chart = charts.build(points, granularity="day", period_days=2, now=NOW)
    assert chart.bars and chart.compare_line == "" and "data-value" not in chart.hits_svg
    assert chart.metric_label == "Visitors"


# --- the page ------------------------------------------------------------------------------


def test_the_page_draws_the_chosen_metric_interval_and_comparison(client, traffic):
    response = get(client, traffic, **MARCH, **OPTIONS)
    assert response.status_code == 200
    chart = response.context["chart"]
    assert (chart.granularity, chart.metric, chart.compare) == ("week", "bounce_rate", "previous")
    assert [b.value for b in chart.buckets] == ["50%"] * 4
    assert [b.then for b in chart.buckets] == ["50%"] * 4
    assert chart.compare_points == 4
    html = response.content.decode()
    assert re.search(r'<path class="c-line" d="M[^"]+" data-points="4"', html)
    assert '<li class="lg-compare">Previous period</li>' in html
    assert "per week" in html and "Weeks start on Monday" in html
    label = response.context["chart_label"]
    assert label == (
        "Chart of bounce rate per week, 02 Mar 2026 – 29 Mar 2026: bounce rate 50%; dashed line: "
        "compared with 2 Feb – 1 Mar 2026: bounce rate 50%"
    )
    assert f'aria-label="{label}"' in html
    # The controls mark the current choices.
    for current in ("Bounce rate", "Weeks", "Previous period"):
        assert re.search(rf'aria-current="true" data-chart-\w+>{current}</a>', html)


def test_every_link_of_the_page_keeps_the_chart_options(client, traffic):
    response = get(client, traffic, **MARCH, **OPTIONS, source="Google")
    ctx = response.context
    urls = [link.url for link in ctx["period_links"]]
    urls += [chip.remove_url for chip in ctx["chips"]]
    urls += [row.url for panel in ctx["panels"] for tab in panel.tabs for row in tab.rows]
    urls += [ctx["before_url"], ctx["after_url"]]
    assert len(urls) > 10
    for url in urls:
        assert {k: query_of(url).get(k) for k in OPTIONS} == OPTIONS, url
    assert {k: ctx["filter_query"].get(k) for k in OPTIONS} == OPTIONS  # the custom range form


def test_an_interval_the_period_does_not_allow_shows_its_default(client, traffic):
    response = get(
        client,
        traffic,
        period="custom",
        **{"from": "2026-03-04", "to": "2026-03-04"},
        interval="month",
        metric="nonsense",
        compare="year",
    )
    assert response.status_code == 200
    chart = response.context["chart"]
    assert (chart.granularity, chart.metric, chart.compare) == ("hour", "visitors", "year")
    assert len(chart.buckets) == 24 and chart.compare_points == 24


def test_the_default_chart_reads_only_the_dashboard_bundle(client, traffic, monkeypatch):
    asked = []
    real = queries.timeseries

    def spy(*args, **kwargs):
        asked.append(kwargs.get("interval"))
        return real(*args, **kwargs)

    monkeypatch.setattr(queries, "timeseries", spy)
    get(client, traffic, **MARCH)
    assert asked == []
    get(client, traffic, **MARCH, interval="week")
    assert asked == ["week"]
    asked.clear()
    get(client, traffic, **MARCH, compare="year")
    assert asked == ["day"]  # the compared period's days, aligned to this period's


def test_a_non_default_interval_is_exact_on_the_page(client, traffic):
    chart = get(client, traffic, **MARCH, interval="week").context["chart"]
    assert [(b.visitors, b.pageviews, b.sessions) for b in chart.buckets] == [(2, 3, 2)] * 4
