"""CSV export of a website's numbers for a period and filters: ``GET /websites/<pk>/export.csv``.

The same query string as the dashboard (period, from/to, filters), the same access rule
(owner only: anyone else gets the 404 of a website that does not exist, before the query
string is looked at), and every number read through ``stats.queries``, like the dashboard.

One table, one row per value: a ``total`` row (the summary), the ``timeseries`` (one row
per chart interval: its start in the website's time zone), every row of every breakdown,
then the conversions: ``goals`` (converting visitors, events, conversion rate), ``events``
(custom events by name: visitors, events) and ``properties`` (the values sent with each
custom event, the event and the property key in their own columns). Pages also have their
time on page and scroll depth, the total row the average engaged time per visit (empty
where nothing was reported). A column that does not apply to a row is empty. Every row also says what it counts: the first and last day,
the time zone and the filters (as in the dashboard's URL); the file name says them too.
Text cells that a spreadsheet would run as a formula — starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return — get a leading apostrophe (OWASP, "CSV
injection"): tracked paths, sources and UTM values come from anyone on the internet.
"""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dashboard.scope import Scope
from dashboard.views import period_and_filters
from stats import queries
from stats.dimensions import BREAKDOWNS
from stats.filters import NONE_TOKEN, Op
from websites.selectors import website_get_for_user_or_404

# New columns go at the end, so a spreadsheet that reads the first ones by position still works.
COLUMNS = [
    "dimension",
    "value",
    "visitors",
    "sessions",
    "pageviews",
    "events",
    "conversion_rate",
    "event",
    "property",
    "from",
    "to",
    "timezone",
    "filters",
    "time_on_page_s",
    "scroll_depth_pct",
    "avg_engaged_time_s",
]
# The columns after ``filters``: engagement, of pages (each) and of visits (the total row).
_ENGAGEMENT = 3
# Rows per breakdown: more than any screen shows, bounded so one export stays small.
MAX_ROWS = 10_000
# Custom events whose property values are listed (the most visited): one query each.
MAX_EVENTS_WITH_PROPERTIES = 100
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_OP_WORDS = {Op.IS: [], Op.IS_NOT: ["not"], Op.CONTAINS: ["contains"]}


def _number(value: float | None, digits: int = 2) -> object:
    return "" if value is None else round(value, digits)


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet shows as text: formula starts get an apostrophe."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def filename(
    domain: str, first_day: str, last_day: str, timezone: str = "", filters: str = ""
) -> str:
    """``example.com-2026-01-01-2026-01-31-Europe-Berlin-country-DE.csv``: the website, the
    period, the time zone and the filters, in characters every file system takes."""
    parts = [domain, first_day, last_day, timezone.replace("/", "-"), filters]
    safe = [re.sub(r"[^A-Za-z0-9.-]+", "_", p).strip("._") for p in parts if p]
    return "-".join(p for p in safe if p)[:200] + ".csv" if safe[0] else "website.csv"


@never_cache
@login_required
@require_safe
def export_csv(request: HttpRequest, pk: int) -> HttpResponse:
    return export_response(request, Scope(website_get_for_user_or_404(request.user, pk)))


def export_response(request: HttpRequest, scope: Scope) -> HttpResponse:
    """The CSV of the period and filters, for the website's owner or through a share link."""
    website = scope.website
    asked = period_and_filters(request, website, scope=scope)
    if isinstance(asked, HttpResponse):
        return asked
    period, filters = asked

    out = io.StringIO()
    csv_writer = csv.writer(out, lineterminator="\r\n")
    csv_writer.writerow(COLUMNS)
    query = urlencode(filters.as_query())
    what = [period.first_day.isoformat(), period.last_day.isoformat(), website.timezone, query]

    def writerow(cells: list[object], engagement: list[object] | None = None) -> None:
        csv_writer.writerow([*cells, *what, *(engagement or [""] * _ENGAGEMENT)])

    blank = [""] * (len(COLUMNS) - 5 - len(what) - _ENGAGEMENT)
    total = queries.summary(website, period, filters=filters)
    writerow(
        ["total", "", total.visitors, total.sessions, total.pageviews, *blank],
        ["", "", _number(total.avg_engaged_time_s)],
    )
    hourly = period.granularity != "day"
    for point in queries.timeseries(website, period, filters=filters):
        start = point.t.isoformat(timespec="minutes") if hourly else point.t.date().isoformat()
        writerow(["timeseries", start, point.visitors, point.sessions, point.pageviews, *blank])
    for dimension in BREAKDOWNS:
        for row in queries.breakdown(website, period, dimension, filters=filters, limit=MAX_ROWS):
            value = neutralise(row.value) if row.value else NONE_TOKEN
            sessions = "" if row.sessions is None else row.sessions
            engagement = (
                None
                if row.sessions is not None
                else [_number(row.time_on_page_s), _number(row.scroll_depth_pct, 1), ""]
            )
            writerow([dimension, value, row.visitors, sessions, row.pageviews, *blank], engagement)
    for goal in queries.goals(website, period, filters=filters, limit=MAX_ROWS):
        rate = "" if goal.conversion_rate is None else round(goal.conversion_rate, 4)
        writerow(
            ["goals", neutralise(goal.value), goal.visitors, "", "", goal.events, rate, "", ""]
        )
    events = queries.events(website, period, filters=filters, limit=MAX_ROWS)
    for event in events:
        writerow(
            ["events", neutralise(event.value), event.visitors, "", "", event.events, "", "", ""]
        )
    for event in events[:MAX_EVENTS_WITH_PROPERTIES]:
        name = neutralise(event.value)
        found = queries.properties(website, period, event.value, filters=filters, limit=MAX_ROWS)
        for key, value, visitors, n in found:
            writerow(
                ["properties", neutralise(value), visitors, "", "", n, "", name, neutralise(key)]
            )

    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    named = "-".join(
        "-".join([name, *_OP_WORDS[c.op], "-or-".join(v or NONE_TOKEN for v in c.values)])
        for name, c in filters.conditions()
    )
    name = filename(website.domain, what[0], what[1], website.timezone, named)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
