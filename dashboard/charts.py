"""Geometry of the main chart: page views as bars, visitors as a line, over time buckets.

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
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString

from dashboard.formatting import compact, number
from stats.queries import Point

HEIGHT = 240
PLOT_TOP = 14
PLOT_H = 196  # plot area: PLOT_TOP .. PLOT_TOP + PLOT_H px; x labels below it
LABEL_Y = HEIGHT - 8
BUCKET_W = 10
BAR_W = 7
PLOT_UNITS = 1000
WIDE_LABELS = 12  # x labels on screens >= 640 px
NARROW_LABELS = 5  # x labels on phones


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
    visitors_y: str  # px in the outer SVG (for the hover dot)
    label: str  # the tooltip's title: what this bucket covers
    pageviews: int
    visitors: int
    sessions: int
    future: bool


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
    line: str  # SVG path of visitors, plot units
    line_points: int
    empty: bool
    granularity: str
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
        future = ' data-future="1"' if b.future else ""
        parts.append(
            f'<rect x="{b.x}" y="0" width="{BUCKET_W}" height="{PLOT_UNITS}" '
            f'data-label="{escape(b.label)}" data-pageviews="{b.pageviews}" '
            f'data-visitors="{b.visitors}" data-sessions="{b.sessions}" '
            f'data-x="{b.center_pct}" data-y="{b.visitors_y}"{future}></rect>'
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


def _tooltip_label(t: dt.datetime, granularity: str, period_days: int) -> str:
    if granularity == "day":
        return f"{t:%a}, {t.day} {t:%b %Y}"
    if granularity == "hour":
        end = t + dt.timedelta(hours=1)
        return f"{t:%a}, {t.day} {t:%b} · {t:%H:%M}–{end.astimezone(t.tzinfo):%H:%M}"
    return f"{t:%H:%M}"


def _axis_label(t: dt.datetime, granularity: str, period_days: int) -> str:
    if granularity == "day":
        return f"{t.day} {t:%b}"
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


def _tick(value: int, top: int) -> Tick:
    y = PLOT_TOP + PLOT_H * (1 - value / top)
    return Tick(y=_n(y), label_y=_n(y - 4), label=compact(value))


def build(
    points: Sequence[Point], *, granularity: str, period_days: int, now: dt.datetime
) -> Chart:
    """Everything the template needs to draw ``points`` (bucket starts local, aware).

    The same points draw the same chart until ``now`` passes the next bucket's start: the
    last charts are kept (a warm year of days took a third of the page's time)."""
    past = sum(p.t <= now for p in points)  # the buckets started by now (points in order)
    return _build(tuple(points), granularity, period_days, past)


@functools.lru_cache(maxsize=64)
def _build(points: tuple[Point, ...], granularity: str, period_days: int, past: int) -> Chart:
    n = len(points)
    peak = max((max(p.pageviews, p.visitors) for p in points), default=0)
    ticks = nice_ticks(peak)
    top = ticks[-1]

    def plot_y(value: int) -> float:
        return PLOT_UNITS - value / top * PLOT_UNITS

    buckets = []
    segments: list[str] = []
    for i, p in enumerate(points):
        x = i * BUCKET_W
        future = i >= past
        bar_h = p.pageviews / top * PLOT_UNITS
        buckets.append(
            Bucket(
                x=_n(x),
                bar_x=_n(x + (BUCKET_W - BAR_W) / 2),
                bar_y=_n(PLOT_UNITS - bar_h),
                bar_h=_n(bar_h),
                center_pct=_n((i + 0.5) / n * 100),
                visitors_y=_n(PLOT_TOP + PLOT_H * (1 - p.visitors / top)),
                label=_tooltip_label(p.t, granularity, period_days),
                pageviews=p.pageviews,
                visitors=p.visitors,
                sessions=p.sessions,
                future=future,
            )
        )
        if not future:
            cx = x + BUCKET_W / 2
            segments.append(f"{'M' if not segments else 'L'}{cx:g},{plot_y(p.visitors):.1f}")
    if len(segments) == 1:
        # A lone point (just after midnight): a short dash, so it is visible at all.
        x0 = float(segments[0][1:].split(",")[0])
        y0 = segments[0].split(",")[1]
        segments = [f"M{x0 - BUCKET_W / 2:g},{y0}", f"L{x0 + BUCKET_W / 2:g},{y0}"]
    return Chart(
        height=HEIGHT,
        plot_top=PLOT_TOP,
        plot_h=PLOT_H,
        label_y=LABEL_Y,
        width_units=max(1, n) * BUCKET_W,
        plot_units=PLOT_UNITS,
        bucket_w=BUCKET_W,
        bar_w=BAR_W,
        ticks=[_tick(t, top) for t in ticks],
        xlabels=_xlabels(points, granularity, period_days),
        buckets=buckets,
        line=" ".join(segments),
        line_points=sum(not b.future for b in buckets),
        empty=peak == 0,
        granularity=granularity,
        bars_svg=_bars_svg(buckets),
        hits_svg=_hits_svg(buckets),
    )


def summary_label(visitors: int, pageviews: int, period_label: str) -> str:
    return (
        f"Chart of visitors and page views, {period_label}: "
        f"{number(visitors)} visitors, {number(pageviews)} page views"
    )
