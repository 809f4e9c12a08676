"""Geometry of the main chart: one metric as a line over time buckets (by default visitors,
with page views as bars behind), and optionally the compared period as a dashed line.

The SVG has no outer viewBox: it is 100 % wide and ``HEIGHT`` px tall, so its text never
scales. Horizontal positions of labels are percentages of the width; vertical ones are px.
The marks live in a nested SVG whose viewBox is ``BUCKET_W`` units per bucket wide and
``PLOT_UNITS`` tall, stretched to the plot area (``preserveAspectRatio="none"``), so a
390 px phone and a 1440 px screen draw the same chart without horizontal scrolling.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString

from dashboard import formatting as fmt
from dashboard.formatting import compact, number
from stats import intervals
from stats.queries import Point, Summary

HEIGHT = 240
PLOT_TOP = 14
PLOT_H = 196  # plot area: PLOT_TOP .. PLOT_TOP + PLOT_H px; x labels below it
LABEL_Y = HEIGHT - 8
BUCKET_W = 10
BAR_W = 7
PLOT_UNITS = 1000
WIDE_LABELS = 12  # x labels on screens >= 640 px
NARROW_LABELS = 5  # x labels on phones


@dataclass(frozen=True)
class Metric:
    """A metric the chart can draw: its value per bucket, and how its numbers read."""

    key: str
    label: str
    value: Callable[[Point], float | None]  # None: undefined for the bucket (no sessions)
    text: Callable[[float | None], str]  # a value in the read-out
    tick: Callable[[int], str]  # an axis label
    total: Callable[[Summary], str]  # the period's figure, for the chart's description


def _count(value: float | None) -> str:
    return "—" if value is None else f"{round(value):,}"


def _percent(value: float | None) -> str:
    return fmt.percent(None if value is None else value / 100)


METRICS = {
    m.key: m
    for m in (
        Metric(
            "visitors",
            "Visitors",
            lambda p: p.visitors,
            _count,
            compact,
            lambda s: f"{number(s.visitors)} visitors",
        ),
        Metric(
            "pageviews",
            "Page views",
            lambda p: p.pageviews,
            _count,
            compact,
            lambda s: f"{number(s.pageviews)} page views",
        ),
        Metric(
            "sessions",
            "Sessions",
            lambda p: p.sessions,
            _count,
            compact,
            lambda s: f"{number(s.sessions)} sessions",
        ),
        # Drawn in percent, so the axis has round ticks.
        Metric(
            "bounce_rate",
            "Bounce rate",
            lambda p: None if p.bounce_rate is None else p.bounce_rate * 100,
            _percent,
            lambda t: f"{t}%",
            lambda s: f"bounce rate {fmt.percent(s.bounce_rate)}",
        ),
        Metric(
            "visit_duration",
            "Visit duration",
            lambda p: p.avg_session_duration_s,
            fmt.duration,
            fmt.duration,
            lambda s: f"average visit {fmt.duration(s.avg_session_duration_s)}",
        ),
    )
}
DEFAULT_METRIC = "visitors"
COMPARE_LABELS = {"previous": "Previous period", "year": "A year earlier"}


def _n(value: float) -> str:
    """A coordinate as SVG text: fixed point, never localised, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


@dataclass(frozen=True)
class Tick:
    y: str  # px
    label_y: str  # baseline of its label, just above the line
    label: str


@dataclass(frozen=True)
class XLabel:
    x: str  # "12.5%"
    anchor: str  # start, middle, end
    text: str
    narrow: bool  # shown on phones too


@dataclass(frozen=True)
class Bucket:
    x: str  # left edge in plot units
    bar_x: str
    bar_y: str
    bar_h: str
    center_pct: str  # centre, percent of the width
    line_y: str  # px in the outer SVG of the metric's point (for the hover dot); "" for none
    label: str  # the tooltip's title: what this bucket covers
    pageviews: int
    visitors: int
    sessions: int
    future: bool
    value: str = ""  # the metric, written out (metrics other than the default)
    then: str | None = None  # the compared bucket's metric, written out (with a comparison)
    then_label: str = ""
    then_y: str = ""


@dataclass(frozen=True)
class Chart:
    height: int
    plot_top: int
    plot_h: int
    label_y: int
    width_units: int
    plot_units: int
    bucket_w: int
    bar_w: int
    ticks: list[Tick]
    xlabels: list[XLabel]
    buckets: list[Bucket]
    line: str  # SVG path of the metric, plot units
    line_points: int
    empty: bool
    granularity: str  # the interval: minute, hour, day, week or month
    metric: str = DEFAULT_METRIC
    metric_label: str = "Visitors"
    bars: bool = True  # page views as bars behind the default metric
    compare: str = ""  # previous, year or "" (none)
    compare_label: str = ""
    compare_line: str = ""  # SVG path of the compared buckets' metric, dashed
    compare_points: int = 0
    # The buckets' <rect>s, written here: a year of days as template loops took most of a
    # warm page's time (about 4,700 variables rendered one by one).
    bars_svg: SafeString = SafeString("")
    hits_svg: SafeString = SafeString("")


def _bars_svg(buckets: Sequence[Bucket]) -> SafeString:
    return SafeString(
        "".join(
            f'<rect x="{b.bar_x}" y="{b.bar_y}" width="{BAR_W}" height="{b.bar_h}"></rect>'
            for b in buckets
            if b.pageviews
        )
    )


def _hits_svg(buckets: Sequence[Bucket]) -> SafeString:
    parts = []
    for b in buckets:
        extra = ' data-future="1"' if b.future else ""
        if b.value:
            extra += f' data-value="{escape(b.value)}"'
        if b.then is not None:
            extra += (
                f' data-then="{escape(b.then)}" data-then-label="{escape(b.then_label)}"'
                f' data-ty="{b.then_y}"'
            )
        parts.append(
            f'<rect x="{b.x}" y="0" width="{BUCKET_W}" height="{PLOT_UNITS}" '
            f'data-label="{escape(b.label)}" data-pageviews="{b.pageviews}" '
            f'data-visitors="{b.visitors}" data-sessions="{b.sessions}" '
            f'data-x="{b.center_pct}" data-y="{b.line_y}"{extra}></rect>'
        )
    return SafeString("".join(parts))


def nice_ticks(max_value: float, target: int = 4) -> list[int]:
    """Evenly spaced integer ticks from 0 to a round top at or above ``max_value``."""
    if max_value <= 0:
        return [0, 1]
    raw = max_value / target
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = magnitude * 10
    for m in (1, 2, 2.5, 5, 10):
        candidate = m * magnitude
        if candidate >= raw and candidate == int(candidate):
            step = candidate
            break
    step = max(1, int(step))
    top = math.ceil(max_value / step) * step
    return list(range(0, top + 1, step))


Span = tuple[dt.date, dt.date]


def _span_text(first: dt.date, last: dt.date) -> str:
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if first.year != last.year:
        return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"
    if first.month != last.month:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day}–{last.day} {last:%b %Y}"


def _tooltip_label(t: dt.datetime, granularity: str, span: Span | None = None) -> str:
    if granularity == "week" and span is not None:
        partial = intervals.is_partial(*span, "week")
        return _span_text(*span) + (" (partial week)" if partial else "")
    if granularity == "month" and span is not None:
        if intervals.is_partial(*span, "month"):
            return f"{t:%B %Y} (partial: {_span_text(*span)})"
        return f"{t:%B %Y}"
    if granularity == "day":
        return f"{t:%a}, {t.day} {t:%b %Y}"
    if granularity == "hour":
        end = t + dt.timedelta(hours=1)
        return f"{t:%a}, {t.day} {t:%b} · {t:%H:%M}–{end.astimezone(t.tzinfo):%H:%M}"
    return f"{t:%H:%M}"


def _then_label(t: dt.datetime, granularity: str, days: int) -> str:
    """What a compared bucket covers: its days (weeks, months), its day, or its hour."""
    if granularity in ("week", "month"):
        return _span_text(t.date(), t.date() + dt.timedelta(days=days - 1))
    if granularity == "hour":
        return f"{t:%a}, {t.day} {t:%b %Y} · {t:%H:%M}"
    return _tooltip_label(t, granularity)


def _axis_label(t: dt.datetime, granularity: str, period_days: int) -> str:
    if granularity in ("day", "week"):
        return f"{t.day} {t:%b}"
    if granularity == "month":
        return f"{t:%b}" + (f" {t:%Y}" if t.month == 1 else "")
    if granularity == "hour" and period_days > 1 and t.hour == 0:
        return f"{t:%a} {t.day}"
    return f"{t:%H:%M}"


def _candidates(points: Sequence[Point], granularity: str, step: int, months: bool) -> list[int]:
    """Indices worth a label at ``step``, aligned to the clock or calendar where it helps."""
    out = []
    for i, p in enumerate(points):
        t = p.t
        if months:
            if t.day == 1 and (t.month - 1) % step == 0:
                out.append(i)
        elif granularity == "minute":
            if t.minute % step == 0:
                out.append(i)
        elif granularity == "hour":
            if t.hour % step == 0 and t.minute == 0:
                out.append(i)
        elif i % step == 0:
            out.append(i)
    return out


_STEPS = {
    "minute": (1, 2, 5, 10, 15, 30),
    "hour": (1, 2, 3, 4, 6, 12, 24),
    "day": (1, 2, 3, 4, 5, 7, 14, 21, 28),
    "week": (1, 2, 4, 8, 13, 26),
    "month": (1, 2, 3, 6, 12),
}


def _pick(points: Sequence[Point], granularity: str, limit: int) -> list[int]:
    months = granularity == "day" and len(points) > 62
    for step in _STEPS["month" if months else granularity]:
        chosen = _candidates(points, granularity, step, months)
        if 0 < len(chosen) <= limit:
            return chosen
    # Odd lengths (a DST day, a 400-day range): every k-th bucket.
    k = max(1, math.ceil(len(points) / limit))
    return list(range(0, len(points), k))


def _xlabels(points: Sequence[Point], granularity: str, period_days: int) -> list[XLabel]:
    n = len(points)
    if not n:
        return []
    wide = _pick(points, granularity, WIDE_LABELS)
    # Phones show every k-th of the wide labels, so the two sets never crowd each other.
    k = math.ceil(len(wide) / NARROW_LABELS)
    narrow = set(wide[::k])
    months = granularity == "day" and n > 62
    labels = []
    for i in wide:
        t = points[i].t
        if months:
            text = f"{t:%b}" + (f" {t:%Y}" if t.month == 1 else "")
        else:
            text = _axis_label(t, granularity, period_days)
        center = (i + 0.5) / n * 100
        # Keep the first and last labels inside the chart.
        if center < 6:
            x, anchor = i / n * 100, "start"
        elif center > 94:
            x, anchor = (i + 1) / n * 100, "end"
        else:
            x, anchor = center, "middle"
        labels.append(XLabel(x=f"{_n(x)}%", anchor=anchor, text=text, narrow=i in narrow))
    return labels


def _tick(value: int, top: int, label: Callable[[int], str]) -> Tick:
    y = PLOT_TOP + PLOT_H * (1 - value / top)
    return Tick(y=_n(y), label_y=_n(y - 4), label=label(value))


def _path(values: Sequence[float | None], top: int) -> tuple[str, int]:
    """An SVG path through the values (plot units), broken where one is None; a lone point
    is drawn as a short dash so it is visible at all. Also: how many points it has."""
    runs: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((i * BUCKET_W + BUCKET_W / 2, PLOT_UNITS - v / top * PLOT_UNITS))
    parts: list[str] = []
    for run in runs:
        if len(run) == 1:
            (x, y), half = run[0], BUCKET_W / 2
            parts += [f"M{x - half:g},{y:.1f}", f"L{x + half:g},{y:.1f}"]
        else:
            parts += [f"{'L' if j else 'M'}{x:g},{y:.1f}" for j, (x, y) in enumerate(run)]
    return " ".join(parts), sum(map(len, runs))


def build(
    points: Sequence[Point],
    *,
    granularity: str,
    period_days: int,
    now: dt.datetime,
    metric: str = DEFAULT_METRIC,
    compared: Sequence[Point | None] | None = None,
    compare: str = "",
    last_day: dt.date | None = None,
) -> Chart:
    """Everything the template needs to draw ``points`` (bucket starts local, aware) as
    ``metric``, with ``compared`` (one per bucket, or None) as a dashed line. ``last_day``
    ends the last week or month bucket.

    The same points draw the same chart until ``now`` passes the next bucket's start: the
    last charts are kept (a warm year of days took a third of the page's time)."""
    past = sum(p.t <= now for p in points)  # the buckets started by now (points in order)
    return _build(
        tuple(points),
        granularity,
        period_days,
        past,
        metric,
        None if compared is None else tuple(compared),
        compare,
        last_day,
    )


def _spans(points: Sequence[Point], last_day: dt.date | None) -> list[Span] | None:
    """Each bucket's first and last day: up to the next bucket, the last one to ``last_day``."""
    if last_day is None:
        return None
    starts = [p.t.date() for p in points]
    ends = [d - dt.timedelta(days=1) for d in starts[1:]] + [last_day]
    return list(zip(starts, ends, strict=True))


@functools.lru_cache(maxsize=64)
def _build(
    points: tuple[Point, ...],
    granularity: str,
    period_days: int,
    past: int,
    metric_key: str,
    compared: tuple[Point | None, ...] | None,
    compare: str,
    last_day: dt.date | None,
) -> Chart:
    n = len(points)
    metric = METRICS[metric_key]
    bars = metric_key == DEFAULT_METRIC
    values = [metric.value(p) for p in points]
    then = [None if c is None else metric.value(c) for c in compared or ()]
    shown = [v for v in (*values, *then) if v is not None]
    if bars:
        shown += [p.pageviews for p in points]
    peak = max(shown, default=0)
    ticks = nice_ticks(peak)
    top = ticks[-1]
    spans = _spans(points, last_day) if granularity in ("week", "month") else None

    def y_px(value: float | None) -> str:
        return "" if value is None else _n(PLOT_TOP + PLOT_H * (1 - value / top))

    def days(i: int) -> int:
        return (spans[i][1] - spans[i][0]).days + 1 if spans else 1

    buckets = []
    for i, p in enumerate(points):
        x = i * BUCKET_W
        bar_h = p.pageviews / top * PLOT_UNITS if bars else 0
        c = compared[i] if compared is not None else None
        buckets.append(
            Bucket(
                x=_n(x),
                bar_x=_n(x + (BUCKET_W - BAR_W) / 2),
                bar_y=_n(PLOT_UNITS - bar_h),
                bar_h=_n(bar_h),
                center_pct=_n((i + 0.5) / n * 100),
                line_y=y_px(values[i]),
                label=_tooltip_label(p.t, granularity, spans[i] if spans else None),
                pageviews=p.pageviews,
                visitors=p.visitors,
                sessions=p.sessions,
                future=i >= past,
                value="" if bars and compared is None else metric.text(values[i]),
                then=None if compared is None else metric.text(then[i]),
                then_label="" if c is None else _then_label(c.t, granularity, days(i)),
                then_y=y_px(then[i]) if compared is not None else "",
            )
        )
    line, line_points = _path(values[:past], top)
    compare_line, compare_points = _path(then, top) if compared is not None else ("", 0)
    return Chart(
        height=HEIGHT,
        plot_top=PLOT_TOP,
        plot_h=PLOT_H,
        label_y=LABEL_Y,
        width_units=max(1, n) * BUCKET_W,
        plot_units=PLOT_UNITS,
        bucket_w=BUCKET_W,
        bar_w=BAR_W,
        ticks=[_tick(t, top, metric.tick) for t in ticks],
        xlabels=_xlabels(points, granularity, period_days),
        buckets=buckets,
        line=line,
        line_points=line_points,
        empty=not any(p.pageviews or p.visitors or p.sessions for p in points),
        granularity=granularity,
        metric=metric_key,
        metric_label=metric.label,
        bars=bars,
        compare=compare if compared is not None else "",
        compare_label=COMPARE_LABELS.get(compare, "") if compared is not None else "",
        compare_line=compare_line,
        compare_points=compare_points,
        bars_svg=_bars_svg(buckets) if bars else SafeString(""),
        hits_svg=_hits_svg(buckets),
    )


def summary_label(
    current: Summary,
    period_label: str,
    *,
    metric: str = DEFAULT_METRIC,
    interval: str = "",
    compared: Summary | None = None,
    compared_text: str = "",
) -> str:
    """The chart described in one sentence (its SVG's accessible name)."""
    m = METRICS.get(metric, METRICS[DEFAULT_METRIC])
    per = f" per {interval}" if interval else ""
    if m.key == DEFAULT_METRIC:
        text = (
            f"Chart of visitors and page views{per}, {period_label}: "
            f"{number(current.visitors)} visitors, {number(current.pageviews)} page views"
        )
    else:
        text = f"Chart of {m.label.lower()}{per}, {period_label}: {m.total(current)}"
    if compared is not None:
        text += f"; dashed line: compared with {compared_text}: {m.total(compared)}"
    return text
