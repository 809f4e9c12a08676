"""Chart geometry and number formatting (pure functions, no database)."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from dashboard import charts
from dashboard import formatting as fmt
from stats.queries import Point

BERLIN = ZoneInfo("Europe/Berlin")


def points(n, step, start=dt.datetime(2026, 3, 1, tzinfo=BERLIN), values=None):
    values = values or [0] * n
    return [
        Point(t=start + i * step, pageviews=v * 2, visitors=v, sessions=v)
        for i, v in enumerate(values)
    ]


@pytest.mark.parametrize(
    "peak, ticks",
    [
        (0, [0, 1]),
        (1, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (95, [0, 25, 50, 75, 100]),
        (999, [0, 250, 500, 750, 1000]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_y_ticks_are_round_and_cover_the_peak(peak, ticks):
    assert charts.nice_ticks(peak) == ticks


def test_x_labels_thin_out_and_phone_labels_are_a_subset():
    day = dt.timedelta(days=1)
    chart = charts.build(
        points(30, day),
        granularity="day",
        period_days=30,
        now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert len(chart.xlabels) <= charts.WIDE_LABELS
    narrow = [lab for lab in chart.xlabels if lab.narrow]
    assert 2 <= len(narrow) <= charts.NARROW_LABELS
    assert chart.xlabels[0].text == "1 Mar" and chart.xlabels[0].anchor == "start"


def test_a_year_is_labelled_by_month_and_hours_by_the_clock():
    year = charts.build(
        points(365, dt.timedelta(days=1), start=dt.datetime(2025, 6, 1, tzinfo=BERLIN)),
        granularity="day",
        period_days=365,
        now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    texts = [lab.text for lab in year.xlabels]
    assert "Jan 2026" in texts and all(len(t.split()[0]) == 3 for t in texts)
    hours = charts.build(
        points(24, dt.timedelta(hours=1), start=dt.datetime(2026, 3, 1, tzinfo=BERLIN)),
        granularity="hour",
        period_days=1,
        now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert [lab.text for lab in hours.xlabels][:3] == ["00:00", "02:00", "04:00"]


def test_the_visitors_line_stops_at_now_and_buckets_carry_their_values():
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    now = start + dt.timedelta(hours=5, minutes=30)
    chart = charts.build(
        points(24, dt.timedelta(hours=1), start=start, values=list(range(24))),
        granularity="hour",
        period_days=1,
        now=now,
    )
    assert chart.line_points == 6  # buckets 00:00 .. 05:00
    assert [b.future for b in chart.buckets].count(True) == 18
    b = chart.buckets[3]
    assert (b.visitors, b.pageviews) == (3, 6)
    assert b.label == "Sun, 1 Mar · 03:00–04:00"
    assert b.center_pct == "14.58"
    # The markup the page draws: a hit area per bucket, a bar per bucket with page views.
    hits = re.findall(r"<rect [^>]*></rect>", chart.hits_svg)
    assert len(hits) == 24 and chart.hits_svg.count('data-future="1"') == 18
    assert (
        f'<rect x="{b.x}" y="0" width="{charts.BUCKET_W}" height="{charts.PLOT_UNITS}" '
        f'data-label="Sun, 1 Mar · 03:00–04:00" data-pageviews="6" data-visitors="3" '
        f'data-sessions="3" data-x="14.58" data-y="{b.line_y}"></rect>'
    ) == hits[3]
    assert chart.bars_svg.count("<rect ") == 23  # the first bucket has no page view
    assert f'<rect x="{b.bar_x}" y="{b.bar_y}" width="{charts.BAR_W}"' in chart.bars_svg


def test_an_empty_period_is_flagged():
    chart = charts.build(
        points(7, dt.timedelta(days=1)),
        granularity="day",
        period_days=7,
        now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert chart.empty and chart.ticks[-1].label == "1"


@pytest.mark.parametrize(
    "seconds, text",
    [(None, "—"), (0, "0s"), (45.4, "45s"), (135, "2m 15s"), (3725, "1h 2m")],
)
def test_durations(seconds, text):
    assert fmt.duration(seconds) == text


def test_numbers_and_percentages():
    assert fmt.number(12345) == "12,345"
    assert fmt.number(123_456) == "123k"
    assert fmt.number(1_234_567) == "1.2M"
    assert fmt.percent(0.4321) == "43%"
    assert fmt.percent(0.045) == "4.5%"
    assert fmt.percent(None) == "—"
    assert fmt.compact(1500) == "1.5k"
    assert fmt.bar_width(0.001) == "0.5%"


def test_changes():
    assert fmt.change(120, 100).text == "↑ 20%"
    assert fmt.change(80, 100).tone == "bad"
    assert fmt.change(0.4, 0.5, points=True, higher_is_better=False).text == "↓ 10 pts"
    assert fmt.change(0.4, 0.5, points=True, higher_is_better=False).tone == "good"
    assert fmt.change(5, 0).text == "—"
    assert fmt.change(5, None).text == "—"
    assert fmt.change(100, 100).text == "0%"
    assert fmt.change(1001, 1000).text == "↑ 0.1%"


def test_a_lone_point_is_drawn_as_a_dash():
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    chart = charts.build(
        points(24, dt.timedelta(hours=1), start=start, values=[3] + [0] * 23),
        granularity="hour",
        period_days=1,
        now=start + dt.timedelta(minutes=10),
    )
    assert chart.line_points == 1
    assert chart.line.startswith("M") and " L" in chart.line


def test_a_chart_is_built_again_only_when_now_passes_a_bucket_start():
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    series = points(24, dt.timedelta(hours=1), start=start, values=list(range(24)))

    def at(minutes: int) -> charts.Chart:
        now = start + dt.timedelta(minutes=minutes)
        return charts.build(series, granularity="hour", period_days=1, now=now)

    first = at(5 * 60 + 10)
    assert at(5 * 60 + 50) is first  # the same hour: the kept chart
    later = at(6 * 60 + 1)
    assert later is not first and later.line_points == first.line_points + 1
    assert [b.future for b in later.buckets].count(True) == 17
