"""The website pages that show numbers: the list with today's figures and sparklines, the
snippet page and the snippet page's live status.

Every view needs a logged-in user and only sees that user's websites: any other id is a
404, the same answer as an id that does not exist. Numbers come from ``stats.queries``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from stats import periods, queries
from websites.models import Website
from websites.selectors import website_get_for_user_or_404, website_list_for_user
from websites.services import snippet

SPARKLINE_DAYS = 14


@dataclass(frozen=True)
class WebsiteRow:
    website: Website
    visitors_today: int
    pageviews_today: int
    visitors_14d: int
    daily_visitors: list[int]
    has_data: bool


def _today(website: Website) -> periods.Period:
    return periods.from_query({"period": "today"}, website.tz)


def _row(website: Website) -> WebsiteRow:
    today = _today(website)
    now = queries.summary(website, today)
    first = today.last_day - dt.timedelta(days=SPARKLINE_DAYS - 1)
    series = queries.timeseries(website, periods.for_days(first, today.last_day, website.tz))
    daily = [point.visitors for point in series]
    return WebsiteRow(
        website=website,
        visitors_today=now.visitors,
        pageviews_today=now.pageviews,
        # Visitors are counted per local day, so a range's figure is the sum of its days.
        visitors_14d=sum(daily),
        daily_visitors=daily,
        has_data=website.first_event_at is not None or queries.has_data(website),
    )


@login_required
@require_GET
def website_list(request: HttpRequest) -> HttpResponse:
    rows = [_row(website) for website in website_list_for_user(request.user)]
    return render(request, "dashboard/websites.html", {"rows": rows, "days": SPARKLINE_DAYS})


@login_required
@require_GET
def website_snippet(request: HttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk)
    context = {
        "website": website,
        "snippet": snippet(website, request.build_absolute_uri("/")),
        "status": _status(website),
    }
    return render(request, "dashboard/snippet.html", context)


def _status(website: Website) -> dict[str, object]:
    # has_data is one EXISTS query on the events table, so the page flips as soon as an
    # event is stored; first_event_at is filled in later by the debounced refresh job.
    receiving = queries.has_data(website)
    first = website.first_event_at
    return {
        "receiving": receiving,
        "first_event_at": first.isoformat() if first else None,
        # Page views stored today (the website's local day); PAGE_EXIT beacons not counted.
        "events_today": queries.summary(website, _today(website)).pageviews if receiving else 0,
    }


@never_cache
@login_required
@require_GET
def website_status(request: HttpRequest, pk: int) -> JsonResponse:
    """``{"receiving": bool, "first_event_at": iso | null, "events_today": int}``."""
    return JsonResponse(_status(website_get_for_user_or_404(request.user, pk)))
