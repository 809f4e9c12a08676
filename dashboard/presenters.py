"""Turn stats-layer results into what the dashboard template shows: text, links, shares.

Every number comes from ``stats.queries``; this module only formats it and builds the
URLs (always with ``urlencode``) that change the period or the filters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.http import urlencode

from dashboard import charts, worldmap
from dashboard import formatting as fmt
from stats import intervals, queries
from stats.dimensions import BY_BREAKDOWN, BY_NAME, DIMENSIONS
from stats.filters import Condition, Filters, Op
from stats.periods import PERIODS, Period, for_days, from_query
from tracking.models import DropReason
from websites.models import Website

# Shown next to each number; the wording follows the definitions in stats.queries.
DEFINITIONS = {
    "visitors": (
        "Unique visitors: distinct people (a salted hash of IP and browser, no cookies) "
        "who started a session. Counted per day, so someone who returns on another day "
        "counts again."
    ),
    "pageviews": (
        "Page views: every page load, plus every in-app navigation of a single-page app. "
        "Leaving a page is not a view."
    ),
    "sessions": (
        "Sessions (visits): a visitor's activity with less than 30 minutes between "
        "consecutive events; a longer pause starts a new session. A session counts in the "
        "hour and day it started."
    ),
    "duration": (
        "Visit duration: the average time from a session's first event to its last. The "
        "script reports when the visitor leaves a page, so a one-page visit has a real "
        "duration too (when the browser sent that report)."
    ),
    "bounce_rate": (
        "Bounce rate: the share of sessions with exactly one page view and no custom event. "
        "Lower is usually better. Changes are shown in percentage points (pts)."
    ),
    "views_per_session": "Views per visit: page views of the sessions divided by sessions.",
    "engaged": (
        "Engaged time: how long the visit's pages were visible and had the focus (a tab in "
        "the background does not count), as the script reports it when a page is left or "
        "hidden. Averaged over all sessions: one whose browser sent no report counts 0 s."
    ),
    "time_on_page": (
        "Time on page: the average engaged time of this page's views that reported one "
        "(most do; the share is in the details). A view reports when it is left or hidden."
    ),
    "scroll_depth": (
        "Scroll depth: how far down this page its views scrolled, on average: the deepest "
        "point seen, as a percentage of the page's height."
    ),
}

# Dashboard panels in page order; their tabs come from the registry (``Dimension.panel``).
PANEL_TITLES = {
    "pages": "Pages",
    "sources": "Sources",
    "locations": "Locations",
    "devices": "Devices",
}
PANEL_LIMIT = 10
MAP_DIMENSION = "country"  # its panel shows the world map
ENGAGEMENT_DIMENSION = "page"  # its tab shows time on page and scroll depth
PERIOD_MENU = [key for key in PERIODS if key != "custom"]
# What the page shows that is not a filter: the custom event whose properties are open, the
# funnel chosen, and the chart's metric, interval and comparison. Links keep them.
VIEW_PARAMS = ("event", "funnel", "metric", "interval", "compare")
MAX_VIEW_CHARS = 200  # a funnel's name; an event name has at most 120
# View parameters with a fixed set of values; whether a period allows an interval is
# checked where the chart is drawn, so a link to another period keeps the choice.
VIEW_CHOICES: dict[str, tuple[str, ...]] = {
    "metric": tuple(charts.METRICS),
    "interval": intervals.INTERVALS,
    "compare": intervals.COMPARES,
}


def view_state(params: Mapping[str, object]) -> dict[str, str]:
    """The view parameters of a query string. Anything unusable is left out rather than
    refused: a stale link (a funnel since deleted) still opens the dashboard."""
    out = {}
    for name in VIEW_PARAMS:
        raw = params.get(name)
        if (
            isinstance(raw, str)
            and raw.strip()
            and len(raw) <= MAX_VIEW_CHARS
            and "\x00" not in raw
            and raw in VIEW_CHOICES.get(name, (raw,))
        ):
            out[name] = raw
    return out


def dashboard_url(
    path: str,
    period: Period,
    filters: Filters,
    changes: Mapping[str, str | Condition | None] | None = None,
    view: Mapping[str, str] | None = None,
) -> str:
    """``path`` with ``period``, ``filters`` and ``view`` as its query string, built by
    ``urlencode``.

    ``changes`` sets filters (name -> value) or removes them (name -> None).
    """
    if changes:
        filters = filters.replace(**changes)
    query = {**period.as_query(), **filters.as_query(), **(view or {})}
    return f"{path}?{urlencode(query)}"


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    exact: str
    change: fmt.Change
    help: str


def cards(current: queries.Summary, previous: queries.Summary, previous_text: str) -> list[Card]:
    """The seven headline numbers with their change against ``previous``."""
    has_previous = previous.sessions > 0 or previous.pageviews > 0

    def change(attr: str, **kwargs: Any) -> fmt.Change:
        before = getattr(previous, attr) if has_previous else None
        return fmt.change(getattr(current, attr), before, previous_text=previous_text, **kwargs)

    c = current
    rows = [
        (
            "visitors",
            "Unique visitors",
            fmt.number(c.visitors),
            f"{c.visitors:,} visitors",
            change("visitors"),
        ),
        (
            "pageviews",
            "Page views",
            fmt.number(c.pageviews),
            f"{c.pageviews:,} page views",
            change("pageviews"),
        ),
        (
            "sessions",
            "Sessions",
            fmt.number(c.sessions),
            f"{c.sessions:,} sessions",
            change("sessions"),
        ),
        (
            "duration",
            "Visit duration",
            fmt.duration(c.avg_session_duration_s),
            _seconds(c.avg_session_duration_s),
            change("avg_session_duration_s"),
        ),
        (
            "engaged",
            "Engaged time",
            fmt.duration(c.avg_engaged_time_s),
            _seconds(c.avg_engaged_time_s),
            change("avg_engaged_time_s"),
        ),
        (
            "bounce_rate",
            "Bounce rate",
            fmt.percent(c.bounce_rate),
            _ratio(c.bounces, c.sessions, "bounces"),
            change("bounce_rate", higher_is_better=False, points=True),
        ),
        (
            "views_per_session",
            "Views per visit",
            fmt.decimal(c.views_per_session),
            _ratio(c.session_pageviews, c.sessions, "page views"),
            change("views_per_session"),
        ),
    ]
    return [
        Card(key=key, label=label, value=value, exact=exact, change=chg, help=DEFINITIONS[key])
        for key, label, value, exact, chg in rows
    ]


def _seconds(value: float | None) -> str:
    return "no sessions" if value is None else f"{value:,.1f} seconds"


def _ratio(part: int, whole: int, what: str) -> str:
    return f"{part:,} {what} in {whole:,} sessions"


@dataclass(frozen=True)
class ListRow:
    label: str
    value: str  # the raw value (for the title)
    visitors: str
    visitors_exact: int
    pageviews: int
    share: str  # "43%"
    bar: str  # SVG width, "43.2%"
    url: str
    active: bool
    title: str
    # Pages only: time on page and scroll depth ("—" where no view reported one).
    time_on_page: str = ""
    scroll_depth: str = ""


@dataclass(frozen=True)
class Tab:
    key: str
    title: str
    short_title: str
    column: str
    rows: list[ListRow]
    empty_text: str
    selected: bool
    engagement: bool = False  # the time on page and scroll depth columns

    @property
    def time_help(self) -> str:
        return DEFINITIONS["time_on_page"]

    @property
    def scroll_help(self) -> str:
        return DEFINITIONS["scroll_depth"]


def depth(pct: float | None) -> str:
    return "—" if pct is None else f"{pct:.0f}%"


def _engagement_title(row: queries.Row) -> str:
    if row.time_on_page_s is None and row.scroll_depth_pct is None:
        return " No view reported its engaged time yet."
    share = fmt.percent(row.engaged_share)
    return (
        f" Time on page {fmt.duration(row.time_on_page_s)} ({share} of views reported),"
        f" scroll depth {depth(row.scroll_depth_pct)}."
    )


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    tabs: list[Tab]
    by_filter: bool  # a tab was opened because its filter is active
    world_map: worldmap.WorldMap | None = None  # shown beside the tabs, whichever is open


def panels(
    website: Website,
    period: Period,
    filters: Filters,
    *,
    path: str,
    total_visitors: int,
    breakdowns: dict[str, list[queries.Row]] | None = None,
    view: Mapping[str, str] | None = None,
) -> list[Panel]:
    """The breakdown panels; ``breakdowns`` (from ``queries.dashboard``) saves the queries."""
    out = []
    active = filters.active()
    for key, title in PANEL_TITLES.items():
        tabs = []
        world_map = None
        for dimension in sorted((d for d in DIMENSIONS if d.panel == key), key=lambda d: d.tab):
            rows = []
            found = (
                breakdowns[dimension.breakdown]
                if breakdowns is not None
                else queries.breakdown(
                    website,
                    period,
                    dimension.breakdown,
                    filters=filters,
                    limit=None if dimension.every_row else PANEL_LIMIT,
                )
            )
            engagement = dimension.name == ENGAGEMENT_DIMENSION
            for row in found[:PANEL_LIMIT]:
                ratio = fmt.share(row.visitors, total_visitors)
                label = dimension.display(row.value)
                views = f"{row.pageviews:,} page view{'s' if row.pageviews != 1 else ''}"
                engaged = _engagement_title(row) if engagement else ""
                rows.append(
                    ListRow(
                        label=label,
                        value=row.value,
                        visitors=fmt.number(row.visitors),
                        visitors_exact=row.visitors,
                        pageviews=row.pageviews,
                        share=fmt.percent(ratio),
                        bar=fmt.bar_width(ratio),
                        url=dashboard_url(path, period, filters, {dimension.name: row.value}, view),
                        active=filters.selects(dimension.name, row.value),
                        title=(
                            f"{label}: {row.visitors:,} visitors, {views}.{engaged} "
                            f"Click to filter the dashboard by this {dimension.heading.lower()}."
                        ),
                        time_on_page=fmt.duration(row.time_on_page_s) if engagement else "",
                        scroll_depth=depth(row.scroll_depth_pct) if engagement else "",
                    )
                )
            tabs.append(
                Tab(
                    key=dimension.breakdown,
                    title=dimension.title,
                    short_title=dimension.short_title or dimension.title,
                    column=dimension.heading,
                    rows=rows,
                    empty_text=dimension.empty_text,
                    selected=False,
                    engagement=engagement,
                )
            )
            if dimension.name == MAP_DIMENSION:
                world_map = _world_map(period, filters, found, path, total_visitors, view)
        # Open the tab whose filter is in use (clicking an entry page keeps its tab open).
        chosen = next((i for i, t in enumerate(tabs) if BY_BREAKDOWN[t.key].name in active), None)
        tabs[chosen or 0] = dataclasses.replace(tabs[chosen or 0], selected=True)
        out.append(
            Panel(
                key=key,
                title=title,
                tabs=tabs,
                by_filter=chosen is not None,
                world_map=world_map,
            )
        )
    return out


def _world_map(
    period: Period,
    filters: Filters,
    found: list[queries.Row],
    path: str,
    total_visitors: int,
    view: Mapping[str, str] | None,
) -> worldmap.WorldMap | None:
    """The map of every country of the period (``found``: all rows, ``every_row``)."""
    dimension = BY_NAME[MAP_DIMENSION]
    return worldmap.build(
        ((row.value, row.visitors) for row in found),
        total_visitors=total_visitors,
        name=dimension.display,
        url=lambda code: dashboard_url(path, period, filters, {dimension.name: code}, view),
        active=filters.get(dimension.name),
    )


@dataclass(frozen=True)
class Chip:
    name: str
    label: str
    op: str
    value: str
    remove_url: str

    @property
    def text(self) -> str:
        """The whole filter in words, for a screen reader: "Source is Google or Bing"."""
        return f"{self.label} {self.op} {self.value}"


def chip_text(name: str, condition: Condition) -> tuple[str, str, str]:
    """A filter as its chip reads it: (label, operator, values), as in "Goal is Signup"."""
    show: Callable[[str], str] = str
    if name == "goal":
        label = "Goal"
    elif name == "prop":
        key, _, _ = condition.values[0].partition("=")
        label, show = f"Property {key}", lambda v: v.partition("=")[2]
    else:
        label = BY_NAME[name].label
        if condition.op != Op.CONTAINS:  # a contained text is shown as typed
            show = BY_NAME[name].display
    values = [show(v) for v in condition.values]
    text = values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"
    return label, str(condition.op), text


def chip(name: str, condition: Condition, remove_url: str) -> Chip:
    label, op, text = chip_text(name, condition)
    return Chip(name=name, label=label, op=op, value=text, remove_url=remove_url)


def chips(
    path: str, period: Period, filters: Filters, view: Mapping[str, str] | None = None
) -> list[Chip]:
    return [
        chip(name, condition, dashboard_url(path, period, filters, {name: None}, view))
        for name, condition in filters.conditions()
    ]


@dataclass(frozen=True)
class PeriodLink:
    key: str
    label: str
    url: str
    current: bool


def period_links(
    path: str,
    period: Period,
    filters: Filters,
    website: Website,
    now: dt.datetime,
    view: Mapping[str, str] | None = None,
) -> list[PeriodLink]:
    out = []
    for key in PERIOD_MENU:
        target = from_query({"period": key}, website.tz, now=now)
        out.append(
            PeriodLink(
                key=key,
                label=PERIODS[key],
                url=dashboard_url(path, target, filters, view=view),
                current=period.key == key,
            )
        )
    return out


def range_text(period: Period) -> str:
    """``3 Mar – 1 Apr 2026``, ``3 Mar 2026``, or the realtime clock range."""
    if period.key == "realtime":
        start, end = period.start.astimezone(period.tz), period.end.astimezone(period.tz)
        return f"{start:%H:%M}–{end:%H:%M}"
    first, last = period.first_day, period.last_day
    if first == last:
        return f"{first.day} {first:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"


def neighbours(period: Period, now: dt.datetime) -> tuple[Period | None, Period | None]:
    """The periods of the same length just before and just after (None past today)."""
    if period.key == "realtime":
        return None, None
    length = dt.timedelta(days=period.days)
    before = period.previous()
    today = now.astimezone(period.tz).date()
    after = None
    if period.last_day < today:
        after = for_days(period.first_day + length, period.last_day + length, period.tz)
    return before, after


def data_quality(website: Website, period: Period, current: queries.Summary) -> dict[str, Any]:
    dropped = queries.dropped_events(website, period)
    exit_share = current.exit_share
    if exit_share is None:
        verdict, tone = "No sessions in this period yet.", "neutral"
    elif exit_share >= 0.7:
        verdict, tone = "Durations are reliable: most visits reported when they ended.", "good"
    elif exit_share >= 0.4:
        verdict, tone = (
            (
                "Durations are indicative: many visits did not report when they "
                "ended, so they count only until their last page view."
            ),
            "warn",
        )
    else:
        verdict, tone = (
            (
                "Durations are understated: few visits reported when they ended "
                "(old snippet, or browsers that block the exit beacon)."
            ),
            "bad",
        )
    bots = dropped.get("bot", 0)
    orphan_exits = dropped.get("exit_without_session", 0)
    return {
        "bots": fmt.number(bots),
        "bots_exact": bots,
        "orphan_exits": fmt.number(orphan_exits),
        # Every other reason that happened, with its label from DropReason.
        "other_drops": [
            {"label": DropReason(reason).label, "count": fmt.number(n)}
            for reason, n in sorted(dropped.items())
            if n and reason in DropReason.values and reason not in ("bot", "exit_without_session")
        ],
        "exit_share": fmt.percent(exit_share),
        "exit_bar": fmt.bar_width(exit_share or 0),
        "exits": f"{current.exits:,}",
        "sessions": f"{current.sessions:,}",
        "verdict": verdict,
        "tone": tone,
        "utc_note": period.key not in ("realtime",) and website.timezone != "UTC",
    }


@dataclass(frozen=True)
class ChartOptions:
    """The chart's metric, interval and comparison: the view's, or the defaults where the
    view asks for something this period does not allow."""

    metric: str
    interval: intervals.Interval
    compare: intervals.Compare | None


def chart_options(period: Period, view: Mapping[str, str] | None) -> ChartOptions:
    view = view or {}
    metric = view.get("metric", charts.DEFAULT_METRIC)
    try:
        interval = intervals.parse(view.get("interval"), period)
    except intervals.IntervalError:
        interval = period.granularity
    try:
        compare = intervals.parse_compare(view.get("compare"), period)
    except intervals.IntervalError:
        compare = None
    return ChartOptions(
        metric=metric if metric in charts.METRICS else charts.DEFAULT_METRIC,
        interval=interval,
        compare=compare,
    )


def chart(
    website: Website,
    period: Period,
    filters: Filters,
    now: dt.datetime,
    points: list[queries.Point] | None = None,
    view: Mapping[str, str] | None = None,
) -> charts.Chart:
    """The chart of the view's options; ``points`` (the dashboard bundle's, at the period's
    granularity) serve the default interval, another interval is its own cached read."""
    options = chart_options(period, view)
    if points is None or options.interval != period.granularity:
        points = queries.timeseries(website, period, filters=filters, interval=options.interval)
    compared = None
    if options.compare is not None:
        compared = queries.compared_timeseries(
            website, period, options.compare, filters=filters, interval=options.interval
        )
    return charts.build(
        points,
        granularity=options.interval,
        period_days=period.days,
        now=now,
        metric=options.metric,
        compared=compared,
        compare=options.compare or "",
        last_day=period.last_day,
    )


def chart_label(
    website: Website,
    period: Period,
    filters: Filters,
    current: queries.Summary,
    view: Mapping[str, str] | None = None,
) -> str:
    """The chart's accessible name: its metric over the period and the compared period."""
    options = chart_options(period, view)
    compared, compared_text = None, ""
    if options.compare is not None:
        other = intervals.compared_period(period, options.compare)
        compared = queries.summary(website, other, filters=filters)
        compared_text = range_text(other)
    return charts.summary_label(
        current,
        period.label,
        metric=options.metric,
        interval=options.interval,
        compared=compared,
        compared_text=compared_text,
    )


@dataclass(frozen=True)
class ChartChoice:
    label: str
    url: str
    current: bool


@dataclass(frozen=True)
class ChartControls:
    metrics: list[ChartChoice]
    intervals: list[ChartChoice]  # empty when the period allows one interval only
    compares: list[ChartChoice]  # empty for realtime


INTERVAL_LABELS = {"hour": "Hours", "day": "Days", "week": "Weeks", "month": "Months"}


def chart_controls(
    path: str, period: Period, filters: Filters, view: Mapping[str, str] | None = None
) -> ChartControls:
    """Links that change one chart option and keep everything else; a default leaves the
    URL (``metric=visitors``, the period's own interval, no comparison)."""
    view = dict(view or {})
    options = chart_options(period, view)

    def choice(name: str, value: str, default: str, label: str, current: bool) -> ChartChoice:
        changed = {k: v for k, v in view.items() if k != name}
        if value != default:
            changed[name] = value
        return ChartChoice(label, dashboard_url(path, period, filters, view=changed), current)

    allowed = intervals.allowed(period)
    return ChartControls(
        metrics=[
            choice("metric", key, charts.DEFAULT_METRIC, m.label, key == options.metric)
            for key, m in charts.METRICS.items()
        ],
        intervals=[
            choice("interval", i, period.granularity, INTERVAL_LABELS[i], i == options.interval)
            for i in allowed
            if i in INTERVAL_LABELS
        ]
        if len(allowed) > 1
        else [],
        compares=[]
        if period.key == "realtime"
        else [
            choice("compare", "", "", "Off", options.compare is None),
            *(
                choice("compare", c, "", charts.COMPARE_LABELS[c], c == options.compare)
                for c in intervals.COMPARES
            ),
        ],
    )
