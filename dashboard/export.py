"""CSV export of a website's numbers for a period and filters: ``GET /websites/<pk>/export.csv``.

The same query string as the dashboard (period, from/to, filters), the same access rule
(owner only: anyone else gets the 404 of a website that does not exist, before the query
string is looked at), and every number read through ``stats.queries``, like the dashboard.

One table, one row per value: a ``total`` row (the summary), then every row of every
breakdown, then the conversions: ``goals`` (converting visitors, events, conversion rate),
``events`` (custom events by name: visitors, events) and ``properties`` (the values sent
with each custom event, the event and the property key in their own columns). A column
that does not apply to a row is empty. Text cells that a spreadsheet would run as a formula — starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return — get a leading apostrophe (OWASP, "CSV
injection"): tracked paths, sources and UTM values come from anyone on the internet.
"""

from __future__ import annotations

import csv
import io
import re

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dashboard.views import QueryError, _bad_request, _check_query
from stats import queries
from stats.dimensions import BREAKDOWNS
from stats.filters import NONE_TOKEN, FilterError, Filters
from stats.periods import PeriodError, from_query
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
]
# Rows per breakdown: more than any screen shows, bounded so one export stays small.
MAX_ROWS = 10_000
# Custom events whose property values are listed (the most visited): one query each.
MAX_EVENTS_WITH_PROPERTIES = 100
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A text cell a spreadsheet shows as text: formula starts get an apostrophe."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def filename(domain: str, first_day: str, last_day: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9.-]+", "_", domain).strip("._") or "website"
    return f"{safe}-{first_day}-{last_day}.csv"


@never_cache
@login_required
@require_safe
def export_csv(request: HttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk)
    try:
        _check_query(request.GET)
        period = from_query(request.GET, website.tz)
        filters = Filters.from_query(request.GET)
    except (PeriodError, FilterError, QueryError) as exc:
        return _bad_request(request, website, str(exc))

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    blank = [""] * (len(COLUMNS) - 5)
    total = queries.summary(website, period, filters=filters)
    writer.writerow(["total", "", total.visitors, total.sessions, total.pageviews, *blank])
    for dimension in BREAKDOWNS:
        for row in queries.breakdown(website, period, dimension, filters=filters, limit=MAX_ROWS):
            value = neutralise(row.value) if row.value else NONE_TOKEN
            sessions = "" if row.sessions is None else row.sessions
            writer.writerow([dimension, value, row.visitors, sessions, row.pageviews, *blank])
    for goal in queries.goals(website, period, filters=filters, limit=MAX_ROWS):
        rate = "" if goal.conversion_rate is None else round(goal.conversion_rate, 4)
        writer.writerow(
            ["goals", neutralise(goal.value), goal.visitors, "", "", goal.events, rate, "", ""]
        )
    events = queries.events(website, period, filters=filters, limit=MAX_ROWS)
    for event in events:
        writer.writerow(
            ["events", neutralise(event.value), event.visitors, "", "", event.events, "", "", ""]
        )
    for event in events[:MAX_EVENTS_WITH_PROPERTIES]:
        name = neutralise(event.value)
        found = queries.properties(website, period, event.value, filters=filters, limit=MAX_ROWS)
        for key, value, visitors, n in found:
            writer.writerow(
                ["properties", neutralise(value), visitors, "", "", n, "", name, neutralise(key)]
            )

    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    name = filename(website.domain, period.first_day.isoformat(), period.last_day.isoformat())
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
