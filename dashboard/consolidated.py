"""All of the current team's websites on one page (the team switcher's): each website's
numbers, summed.

Each website keeps its own time zone: "last 30 days" is each website's last 30 local days,
and the chart adds up each website's n-th bucket. Visitors are counted per website and
summed (a person who visited two of the websites counts twice); the page says so. Every
number comes from ``queries.dashboard``, the one cached bundle each website's own
dashboard reads, so the page costs one cache round trip per website when warm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dashboard import charts, presenters
from dashboard import formatting as fmt
from stats import queries
from stats.dimensions import BY_BREAKDOWN
from stats.periods import PERIODS, Period, from_query
from teams.selectors import team_current
from websites.models import Website
from websites.selectors import website_list_for_user

# Named periods only: a custom range or realtime means little across time zones.
PERIOD_KEYS = ("today", "yesterday", "7d", "30d", "month", "last_month", "12m")
DEFAULT_KEY = "30d"
LISTS = ("sources", "countries", "devices")
ROWS = 10


@dataclass(frozen=True)
class SiteRow:
    name: str
    domain: str
    url: str
    visitors: str
    pageviews: str
    share: str
    bar: str
    change: fmt.Change


@dataclass(frozen=True)
class ListRow:
    label: str
    visitors: str
    share: str
    bar: str


@dataclass(frozen=True)
class Merged:
    title: str
    rows: list[ListRow]


def _summed(summaries: Iterable[queries.Summary]) -> queries.Summary:
    """Every field of a summary is a count or a total, so summaries add up field by field."""
    names = [f.name for f in dataclasses.fields(queries.Summary)]
    totals = dict.fromkeys(names, 0)
    for summary in summaries:
        for name in names:
            totals[name] += getattr(summary, name)
    return queries.Summary(**totals)


def _points(series: list[list[queries.Point]]) -> list[queries.Point]:
    """Bucket n of every website added up, on the first website's bucket times."""
    longest = max(series, key=len)
    out = []
    for n, first in enumerate(longest):
        # Every field after the bucket's start is a count or a total.
        found = [p[1:] for s in series if n < len(s) for p in [s[n]]]
        sums = [sum(column) for column in zip(*found, strict=True)]
        out.append(queries.Point(first.t, *sums))
    return out


def _merged(per_site: list[tuple[Website, dict[str, Any]]], breakdown: str, total: int) -> Merged:
    dimension = BY_BREAKDOWN[breakdown]
    visitors: dict[str, int] = defaultdict(int)
    for _, data in per_site:
        for row in data["breakdowns"].get(breakdown, []):
            visitors[row.value] += row.visitors
    top = sorted(visitors.items(), key=lambda kv: (-kv[1], kv[0]))[:ROWS]
    return Merged(
        title=dimension.title,
        rows=[
            ListRow(
                label=dimension.display(value),
                visitors=fmt.number(n),
                share=fmt.percent(fmt.share(n, total)),
                bar=fmt.bar_width(fmt.share(n, total)),
            )
            for value, n in top
        ],
    )


def _period_links(key: str) -> list[presenters.PeriodLink]:
    path = reverse("dashboard:all_websites")
    return [
        presenters.PeriodLink(
            key=k, label=PERIODS[k], url=f"{path}?{urlencode({'period': k})}", current=k == key
        )
        for k in PERIOD_KEYS
    ]


@never_cache
@login_required
@require_safe
def all_websites(request: HttpRequest) -> HttpResponse:
    team = team_current(request)
    websites = website_list_for_user(request.user, team) if team else []
    if not websites:
        return redirect("dashboard:websites")
    key = request.GET.get("period", DEFAULT_KEY)
    if key not in PERIOD_KEYS:
        key = DEFAULT_KEY
    now = dt.datetime.now(dt.UTC)
    periods: list[Period] = [from_query({"period": key}, w.tz, now=now) for w in websites]
    per_site = [
        (w, queries.dashboard(w, p, limit=presenters.PANEL_LIMIT))
        for w, p in zip(websites, periods, strict=True)
    ]
    current = _summed(data["summary"] for _, data in per_site)
    previous = _summed(data["previous"] for _, data in per_site)
    first = periods[0]
    chart = charts.build(
        _points([data["timeseries"] for _, data in per_site]),
        granularity=first.granularity,
        period_days=first.days,
        now=now,
    )
    previous_text = "the previous period of each website"
    sites = []
    for website, data in sorted(per_site, key=lambda wd: -wd[1]["summary"].visitors):
        s, before = data["summary"], data["previous"]
        ratio = fmt.share(s.visitors, current.visitors)
        sites.append(
            SiteRow(
                name=website.name or website.domain,
                domain=website.domain,
                url=f"{reverse('dashboard:overview', args=[website.pk])}?{urlencode({'period': key})}",
                visitors=fmt.number(s.visitors),
                pageviews=fmt.number(s.pageviews),
                share=fmt.percent(ratio),
                bar=fmt.bar_width(ratio),
                change=fmt.change(
                    s.visitors,
                    before.visitors if before.sessions or before.pageviews else None,
                    previous_text=previous_text,
                ),
            )
        )
    context = {
        "period": first,
        "period_label": PERIODS[key],
        "period_links": _period_links(key),
        "cards": presenters.cards(current, previous, previous_text),
        "chart": chart,
        "chart_label": charts.summary_label(current, PERIODS[key]),
        "chart_zone": "each website's",
        "sites": sites,
        "lists": [_merged(per_site, b, current.visitors) for b in LISTS],
        "count": len(websites),
        "team": team,
    }
    return render(request, "dashboard/all_websites.html", context)
