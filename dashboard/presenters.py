"""Turn stats-layer results into what the dashboard template shows: text, links, shares.

Every number comes from ``stats.queries``; this module only formats it and builds the
URLs (always with ``urlencode``) that change the period or the filters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.http import urlencode

from dashboard import charts, worldmap
from dashboard import formatting as fmt
from stats import queries
from stats.dimensions import BY_BREAKDOWN, BY_NAME, DIMENSIONS
from stats.filters import Filters
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
PERIOD_MENU = [key for key in PERIODS if key != "custom"]
# What the page shows that is not a filter: the custom event whose properties are open and
# the funnel chosen. Links keep them; the numbers do not depend on them.
VIEW_PARAMS = ("event", "funnel")
MAX_VIEW_CHARS = 200  # a funnel's name; an event name has at most 120


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
        ):
            out[name] = raw
    return out


def dashboard_url(
    path: str,
    period: Period,
    filters: Filters,
    changes: dict[str, str | None] | None = None,
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
    """The six headline numbers with their change against ``previous``."""
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


@dataclass(frozen=True)
class Tab:
    key: str
    title: str
    short_title: str
    column: str
    rows: list[ListRow]
    empty_text: str
    selected: bool


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
            for row in found[:PANEL_LIMIT]:
                ratio = fmt.share(row.visitors, total_visitors)
                label = dimension.display(row.value)
                views = f"{row.pageviews:,} page view{'s' if row.pageviews != 1 else ''}"
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
                        active=active.get(dimension.name) == row.value,
                        title=(
                            f"{label}: {row.visitors:,} visitors, {views}. "
                            f"Click to filter the dashboard by this {dimension.heading.lower()}."
                        ),
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
        active=filters.active().get(dimension.name),
    )


@dataclass(frozen=True)
class Chip:
    name: str
    label: str
    value: str
    remove_url: str


def chip_text(name: str, value: str) -> tuple[str, str]:
    """A filter as its chip reads it: (label, value), as in "Goal is Signup"."""
    if name == "goal":
        return "Goal", value
    if name == "prop":
        key, _, text = value.partition("=")
        return f"Property {key}", text
    return BY_NAME[name].label, BY_NAME[name].display(value)


def chips(
    path: str, period: Period, filters: Filters, view: Mapping[str, str] | None = None
) -> list[Chip]:
    out = []
    for name, value in filters.active().items():
        label, text = chip_text(name, value)
        remove_url = dashboard_url(path, period, filters, {name: None}, view)
        out.append(Chip(name=name, label=label, value=text, remove_url=remove_url))
    return out


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


def chart(
    website: Website,
    period: Period,
    filters: Filters,
    now: dt.datetime,
    points: list[queries.Point] | None = None,
) -> charts.Chart:
    if points is None:
        points = queries.timeseries(website, period, filters=filters)
    return charts.build(points, granularity=period.granularity, period_days=period.days, now=now)
