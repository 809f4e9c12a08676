"""The details view of a dashboard panel: every row of one breakdown (or of the goals or the
custom events), searchable, sortable by each column and paged.

``GET /websites/<pk>/details/<breakdown>/`` takes the dashboard's query string (period,
filters, view) plus ``q`` (search), ``sort``, ``dir`` (``asc`` | ``desc``) and ``p`` (the
page), so every state is a link. The rows come from the same ``stats.queries`` reads as the
panel, without its limit (snapshots for closed days, cached); search, sorting and paging
happen here, on at most some thousands of rows, and only the page shown is formatted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dashboard import formatting as fmt
from dashboard import presenters
from dashboard.scope import Scope
from dashboard.views import period_and_filters, share_context
from stats import queries
from stats.dimensions import BY_BREAKDOWN, DIMENSIONS, Describes, Dimension
from stats.filters import Filters
from stats.periods import PERIODS, Period, from_query
from websites.models import Website
from websites.selectors import website_get_for_user_or_404

PER_PAGE = 50
MAX_SEARCH_CHARS = 200
MAX_PAGE_DIGITS = 9
DEFAULT_SORT = "visitors"
LABEL = "label"  # the sort key of the first column, whatever its heading
GOALS, EVENTS = "goals", "events"
PAGE_WINDOW = 2  # page links shown on each side of the current one


class DetailsError(ValueError):
    """A search, sort or page parameter is invalid; the message says why."""


@dataclass(frozen=True)
class Column:
    key: str  # its ``sort`` value
    heading: str
    help: str = ""
    percent: bool = False  # a ratio, shown as a percentage
    unit: str = ""  # "s": seconds, shown as a duration; "%": a percentage from 0 to 100


@dataclass(frozen=True)
class Source:
    """What one details view lists: its title, its columns and how its rows link."""

    key: str  # the breakdown in the URL
    title: str
    heading: str  # the first column's heading
    columns: tuple[Column, ...]  # the number columns; the first is always the visitors
    empty_text: str
    group: tuple[tuple[str, str], ...]  # (key, title) of the views beside it, for the tabs
    bar: str  # the column whose ratio draws the row's bar

    @property
    def noun(self) -> str:
        """The title inside a sentence: "top pages", "UTM sources"."""
        return self.title if self.title[:2].isupper() else self.title[0].lower() + self.title[1:]


class Entry(NamedTuple):
    """One row before formatting: cheap to search and sort by the thousand."""

    value: str  # as stored: the filter value
    label: str  # as shown
    numbers: tuple[float | None, ...]  # one per column of the source


def _session_heading(dimension: Dimension) -> tuple[str, str]:
    if dimension.name == "entry_page":
        return "Entrances", "Sessions that started on this page."
    if dimension.name == "exit_page":
        return "Exits", "Sessions that ended on this page."
    return "Sessions", f"Sessions that started with this {dimension.heading.lower()}."


_SHARE = Column(
    "share", "Share", "Share of the period's visitors (with these filters).", percent=True
)
ENGAGEMENT_COLUMNS = (
    Column("time", "Time on page", presenters.DEFINITIONS["time_on_page"], unit="s"),
    Column(
        "reported",
        "Reported",
        "Share of the page's views that reported their engaged time.",
        percent=True,
    ),
    Column("scroll", "Scroll depth", presenters.DEFINITIONS["scroll_depth"], unit="%"),
)


def _home(dimension: Dimension) -> str:
    """The panel a dimension's details view sits with: the UTM tags the dashboard does not
    show (medium, content, term) join the Sources panel's views."""
    return dimension.panel or ("sources" if dimension.tagged_only else "")


def _dimension_source(dimension: Dimension) -> Source:
    columns = [
        Column("visitors", "Visitors", "Unique visitors, counted per day."),
        _SHARE,
    ]
    if dimension.describes == Describes.SESSIONS:
        columns.append(Column("sessions", *_session_heading(dimension)))
        columns.append(Column("pageviews", "Page views", "Page views of these sessions."))
    else:
        columns.append(Column("pageviews", "Page views", "Views of this page."))
        columns += ENGAGEMENT_COLUMNS
    home = _home(dimension)
    group = [d for d in DIMENSIONS if d is dimension or (home and _home(d) == home)]
    group.sort(key=lambda d: (not d.panel, d.tab))
    return Source(
        key=dimension.breakdown,
        title=dimension.title,
        heading=dimension.heading,
        columns=tuple(columns),
        empty_text=dimension.empty_text,
        group=tuple((d.breakdown, d.title) for d in group),
        bar="share",
    )


_CONVERSIONS = ((GOALS, "Goals"), (EVENTS, "Custom events"))
SOURCES: dict[str, Source] = {d.breakdown: _dimension_source(d) for d in DIMENSIONS}
SOURCES[GOALS] = Source(
    key=GOALS,
    title="Goals",
    heading="Goal",
    columns=(
        Column("visitors", "Visitors", "Converting visitors, counted per day."),
        Column("events", "Events", "Matching custom events or page views."),
        Column("rate", "CR", "Conversion rate: converting visitors / visitors.", percent=True),
    ),
    empty_text="No goals yet.",
    group=_CONVERSIONS,
    bar="rate",
)
SOURCES[EVENTS] = Source(
    key=EVENTS,
    title="Custom events",
    heading="Event",
    columns=(
        Column("visitors", "Visitors", "Unique visitors who sent it, counted per day."),
        _SHARE,
        Column("events", "Events", "How many times it was sent."),
    ),
    empty_text="No custom events in this period.",
    group=_CONVERSIONS,
    bar="share",
)


# --- the query string ---------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    search: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = True
    page: int = 1

    def params(self) -> dict[str, str]:
        """Its parameters, defaults left out so links stay short."""
        out = {}
        if self.search:
            out["q"] = self.search
        if self.sort != DEFAULT_SORT:
            out["sort"] = self.sort
        if self.descending != _descending_first(self.sort):
            out["dir"] = "desc" if self.descending else "asc"
        if self.page > 1:
            out["p"] = str(self.page)
        return out


def _descending_first(sort: str) -> bool:
    """Numbers sort highest first, labels from A."""
    return sort != LABEL


def parse_query(params: Mapping[str, Any], source: Source) -> Query:
    """``q``, ``sort``, ``dir`` and ``p`` from a query string; ``DetailsError`` says what is
    wrong. A page past the last is not an error (the rows change): the caller clamps it."""
    search = params.get("q") or ""
    if len(search) > MAX_SEARCH_CHARS or "\x00" in search:
        raise DetailsError(f"the search (q) takes at most {MAX_SEARCH_CHARS} characters of text")
    keys = [LABEL, *(c.key for c in source.columns)]
    sort = params.get("sort") or DEFAULT_SORT
    if sort not in keys:
        raise DetailsError(f"sort must be one of {', '.join(keys)}")
    direction = params.get("dir") or ""
    if direction not in ("", "asc", "desc"):
        raise DetailsError("dir must be asc or desc")
    page_text = params.get("p") or "1"
    # isdecimal() alone accepts other scripts' digits; ids and pages are ASCII.
    if not (page_text.isascii() and page_text.isdecimal()) or len(page_text) > MAX_PAGE_DIGITS:
        raise DetailsError("p (the page) must be a whole number from 1")
    page = int(page_text)
    if page < 1:
        raise DetailsError("p (the page) must be a whole number from 1")
    descending = _descending_first(sort) if not direction else direction == "desc"
    return Query(search=search.strip(), sort=sort, descending=descending, page=page)


# --- reading, searching, sorting, paging ---------------------------------------------------


def entries(website: Website, period: Period, filters: Filters, source: Source) -> list[Entry]:
    """Every row of ``source``; shares are of the period's visitors with these filters."""
    if source.key == GOALS:
        goals = queries.goals(website, period, filters=filters, limit=None)
        return [Entry(g.value, g.value, (g.visitors, g.events, g.conversion_rate)) for g in goals]
    total = queries.summary(website, period, filters=filters).visitors
    if source.key == EVENTS:
        found = queries.events(website, period, filters=filters, limit=None)
        return [
            Entry(e.value, e.value, (e.visitors, fmt.share(e.visitors, total), e.events))
            for e in found
        ]
    dimension = BY_BREAKDOWN[source.key]
    rows = queries.breakdown(website, period, source.key, filters=filters, limit=None)
    out = []
    for r in rows:
        share = fmt.share(r.visitors, total)
        numbers = (
            (r.visitors, share, r.sessions, r.pageviews)
            if r.sessions is not None
            else (
                r.visitors,
                share,
                r.pageviews,
                r.time_on_page_s,
                r.engaged_share,
                r.scroll_depth_pct,
            )
        )
        out.append(Entry(r.value, dimension.display(r.value), numbers))
    return out


def search(found: list[Entry], text: str) -> list[Entry]:
    """Rows whose shown label or stored value holds ``text``, ignoring case."""
    if not text:
        return found
    needle = text.casefold()
    return [e for e in found if needle in e.label.casefold() or needle in e.value.casefold()]


def sort(found: list[Entry], source: Source, key: str, descending: bool) -> list[Entry]:
    """Sorted by ``key``. The sort is stable and ``found`` comes in the panel's order, so
    ties keep it (most visitors, then page views or events, then the value)."""
    if key == LABEL:
        return sorted(found, key=lambda e: (e.label.casefold(), e.value), reverse=descending)
    i = [c.key for c in source.columns].index(key)
    return sorted(found, key=lambda e: _number(e.numbers[i]), reverse=descending)


def _number(n: float | None) -> float:
    return -1.0 if n is None else n  # no rate (no visitors) sorts below a rate of 0


# --- what the template shows ----------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    key: str
    heading: str
    help: str
    numeric: bool
    url: str  # sorts by this column (the other way round when it is the current one)
    aria_sort: str  # "ascending" | "descending" on the sorted column, else ""
    action: str  # what following the link does, for its title


@dataclass(frozen=True)
class DetailsRow:
    label: str
    value: str
    cells: list[tuple[str, str, str]]  # (column key, shown, exact) per column
    bar: str
    url: str
    active: bool
    title: str


@dataclass(frozen=True)
class PageLink:
    number: int
    url: str
    current: bool


@dataclass(frozen=True)
class GroupLink:
    title: str
    url: str
    current: bool


@dataclass(frozen=True)
class Table:
    headers: list[Header]
    rows: list[DetailsRow]
    total: int  # rows before the search
    matching: int  # rows after it
    first: int  # 1-based position of the first row shown (0 when none)
    last: int
    page: int
    pages: int
    page_links: list[PageLink | None]  # None: a gap
    previous_url: str
    next_url: str
    sorted_by: str
    summary: str  # "12 of 190 rows match “blog” · showing 1–12 · sorted by visitors, …"


class Links:
    """The URLs of one details view: this view in another state, and the dashboard."""

    def __init__(
        self,
        website: Website,
        source: Source,
        period: Period,
        filters: Filters,
        view: Mapping[str, str],
        scope: Scope | None = None,
    ) -> None:
        self.website, self.source, self.period = website, source, period
        self.filters, self.view = filters, view
        self.scope = scope or Scope(website)
        self.overview = self.scope.url("overview")

    def details(
        self,
        query: Query,
        *,
        key: str | None = None,
        period: Period | None = None,
        filters: Filters | None = None,
    ) -> str:
        path = self.scope.url("details", key or self.source.key)
        params = {
            **(period or self.period).as_query(),
            **(self.filters if filters is None else filters).as_query(),
            **self.view,
            **query.params(),
        }
        return f"{path}?{urlencode(params)}"

    def dashboard(self, changes: dict[str, str | None] | None = None, **view: str) -> str:
        return presenters.dashboard_url(
            self.overview, self.period, self.filters, changes, {**self.view, **view}
        )


def _cell(column: Column, n: float | None) -> tuple[str, str, str]:
    if column.unit == "s":
        return column.key, fmt.duration(n), "" if n is None else f"{n:,.1f} seconds"
    if column.unit == "%":
        return column.key, presenters.depth(n), "" if n is None else f"{n:.1f}%"
    if column.percent:
        return column.key, fmt.percent(n), "" if n is None else f"{n * 100:.2f}%"
    return column.key, "—" if n is None else f"{int(n):,}", ""


def _row(entry: Entry, source: Source, links: Links) -> DetailsRow:
    keys = [c.key for c in source.columns]
    ratio = entry.numbers[keys.index(source.bar)] or 0.0
    visitors = int(entry.numbers[0] or 0)
    who = f"{visitors:,} visitor{'' if visitors == 1 else 's'}"
    if source.key == GOALS:
        url = links.dashboard({"goal": entry.value})
        active = links.filters.get("goal") == entry.value
        action = "Click to show only the visits that converted on the dashboard."
    elif source.key == EVENTS:
        url = links.dashboard(event=entry.value) + "#events"
        active = False
        action = "Click to see its properties on the dashboard."
    else:
        dimension = BY_BREAKDOWN[source.key]
        url = links.dashboard({dimension.name: entry.value})
        active = links.filters.selects(dimension.name, entry.value)
        action = f"Click to filter the dashboard by this {dimension.heading.lower()}."
    return DetailsRow(
        label=entry.label,
        value=entry.value,
        cells=[_cell(c, n) for c, n in zip(source.columns, entry.numbers, strict=True)],
        bar=fmt.bar_width(min(1.0, float(ratio))),
        url=url,
        active=active,
        title=f"{entry.label}: {who}. {action}",
    )


def _headers(source: Source, query: Query, links: Links) -> list[Header]:
    out = []
    columns = [Column(LABEL, source.heading), *source.columns]
    for c in columns:
        current = c.key == query.sort
        descending = not query.descending if current else _descending_first(c.key)
        target = Query(search=query.search, sort=c.key, descending=descending)
        order = "descending" if descending else "ascending"
        out.append(
            Header(
                key=c.key,
                heading=c.heading,
                help=c.help,
                numeric=c.key != LABEL,
                url=links.details(target),
                aria_sort=("descending" if query.descending else "ascending") if current else "",
                action=f"Sort by {c.heading.lower() if c.key != LABEL else c.heading}, {order}",
            )
        )
    return out


def _page_numbers(page: int, pages: int) -> list[int | None]:
    """1 … 4 5 [6] 7 8 … 20: the ends, the current page and its neighbours."""
    shown = {1, pages, *range(page - PAGE_WINDOW, page + PAGE_WINDOW + 1)}
    out: list[int | None] = []
    previous = 0
    for n in sorted(x for x in shown if 1 <= x <= pages):
        if n - previous > 1:
            out.append(None)
        out.append(n)
        previous = n
    return out


def table(found: list[Entry], source: Source, query: Query, links: Links) -> Table:
    """Search, sort and page ``found``; format the page shown."""
    matching = sort(search(found, query.search), source, query.sort, query.descending)
    pages = max(1, -(-len(matching) // PER_PAGE))
    page = min(query.page, pages)
    at = (page - 1) * PER_PAGE
    shown = matching[at : at + PER_PAGE]

    def to(n: int) -> str:
        return links.details(replace(query, page=n))

    headers = _headers(source, query, links)
    current = next(h for h in headers if h.key == query.sort)
    order = "highest first" if query.descending else "lowest first"
    if query.sort == LABEL:
        order = "Z to A" if query.descending else "A to Z"
    sorted_by = f"{current.heading.lower() if current.key != LABEL else current.heading}, {order}"
    rows = f"{len(found):,} row{'' if len(found) == 1 else 's'}"
    parts = [f"{len(matching):,} of {rows} match “{query.search}”" if query.search else rows]
    if shown:
        parts.append(f"showing {at + 1:,}–{at + len(shown):,}")
    parts.append(f"sorted by {sorted_by}")
    return Table(
        headers=headers,
        rows=[_row(e, source, links) for e in shown],
        total=len(found),
        matching=len(matching),
        first=at + 1 if shown else 0,
        last=at + len(shown),
        page=page,
        pages=pages,
        page_links=[
            None if n is None else PageLink(n, to(n), n == page) for n in _page_numbers(page, pages)
        ],
        previous_url=to(page - 1) if page > 1 else "",
        next_url=to(page + 1) if page < pages else "",
        sorted_by=sorted_by,
        summary=" · ".join(parts),
    )


def _period_menu(links: Links, query: Query, website: Website, now: dt.datetime) -> dict[str, Any]:
    """The period choice of the dashboard, keeping this view's search and sort."""
    first = replace(query, page=1)
    period = links.period
    before, after = presenters.neighbours(period, now)
    return {
        "links": [
            presenters.PeriodLink(
                key=key,
                label=label,
                url=links.details(first, period=from_query({"period": key}, website.tz, now=now)),
                current=period.key == key,
            )
            for key, label in ((k, PERIODS[k]) for k in presenters.PERIOD_MENU)
        ],
        "before_url": links.details(first, period=before) if before else "",
        "after_url": links.details(first, period=after) if after else "",
        # What the custom range form keeps.
        "keep": {**links.filters.as_query(), **links.view, **first.params()},
    }


def context(
    website: Website,
    source: Source,
    period: Period,
    filters: Filters,
    view: Mapping[str, str],
    query: Query,
    now: dt.datetime,
    scope: Scope | None = None,
) -> dict[str, Any]:
    links = Links(website, source, period, filters, view, scope)
    found = entries(website, period, filters, source)
    first = replace(query, page=1)
    return {
        "website": website,
        "source": source,
        "period": period,
        "range_text": presenters.range_text(period),
        "today": now.astimezone(website.tz).date().isoformat(),
        "query": query,
        "table": table(found, source, query, links),
        "menu": _period_menu(links, query, website, now),
        "group": [
            GroupLink(title, links.details(Query(search=query.search), key=key), key == source.key)
            for key, title in source.group
        ],
        "chips": [
            presenters.chip(
                name, condition, links.details(first, filters=filters.replace(**{name: None}))
            )
            for name, condition in filters.conditions()
        ],
        "back_url": links.dashboard(),
        "clear_search_url": links.details(Query(sort=query.sort, descending=query.descending)),
        # The search form's hidden fields: everything but the search and the page.
        "keep": {
            **period.as_query(),
            **filters.as_query(),
            **view,
            **Query(sort=query.sort, descending=query.descending).params(),
        },
    }


@never_cache
@login_required
@require_safe
def details(request: HttpRequest, pk: int, breakdown: str) -> HttpResponse:
    return details_page(request, Scope(website_get_for_user_or_404(request.user, pk)), breakdown)


def details_page(request: HttpRequest, scope: Scope, breakdown: str) -> HttpResponse:
    """One breakdown in full, for the website's owner or through a share link."""
    website = scope.website
    source = SOURCES.get(breakdown)
    if source is None:
        raise Http404("No such breakdown")
    now = dt.datetime.now(dt.UTC)
    asked = period_and_filters(request, website, now, scope)
    if isinstance(asked, HttpResponse):
        return asked
    period, filters = asked
    view = presenters.view_state(request.GET)
    try:
        query = parse_query(request.GET, source)
    except DetailsError as exc:
        links = Links(website, source, period, filters, view, scope)
        error = {
            **share_context(scope),
            "website": website,
            "source": source,
            "error": str(exc),
            "reset_url": links.details(Query()),
            "back_url": links.dashboard(),
        }
        return render(request, "dashboard/details.html", error, status=400)
    page = {
        **context(website, source, period, filters, view, query, now, scope),
        **share_context(scope),
    }
    return render(request, "dashboard/details.html", page)
