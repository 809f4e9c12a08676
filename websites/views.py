"""Website pages: list, add, settings, delete, snippet, and the snippet page's live status.

Every view needs a logged-in user and only sees that user's websites: any other id is a
404, the same answer as an id that does not exist. Numbers come from ``stats.queries``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from stats import periods, queries
from websites.forms import DeleteWebsiteForm, WebsiteForm
from websites.models import Website
from websites.selectors import website_get_for_user, website_list_for_user
from websites.services import snippet, website_create, website_delete, website_update

SPARKLINE_DAYS = 14


@dataclass(frozen=True)
class WebsiteRow:
    website: Website
    visitors_today: int
    pageviews_today: int
    visitors_14d: int
    daily_visitors: list[int]
    has_data: bool


def _website_or_404(request: HttpRequest, pk: int) -> Website:
    website = website_get_for_user(request.user, pk)
    if website is None:
        raise Http404("No such website")
    return website


def _data(request: HttpRequest):  # type: ignore[no-untyped-def]
    # A POST binds the form even when empty (it then shows "required" errors).
    return request.POST if request.method == "POST" else None


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
    return render(request, "websites/list.html", {"rows": rows, "days": SPARKLINE_DAYS})


@login_required
@require_http_methods(["GET", "POST"])
def website_add(request: HttpRequest) -> HttpResponse:
    form = WebsiteForm(_data(request), owner=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            website = website_create(owner=request.user, **form.cleaned_data)
        except ValidationError as exc:  # the form checks the same rules; belt and braces
            form.add_error(None, exc)
        else:
            messages.success(request, f"Added {website.domain}. Install the snippet to start.")
            return redirect("websites:snippet", pk=website.pk)
    return render(request, "websites/add.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def website_edit(request: HttpRequest, pk: int) -> HttpResponse:
    website = _website_or_404(request, pk)
    form = WebsiteForm(_data(request), owner=request.user, website=website)
    if request.method == "POST" and form.is_valid():
        try:
            website_update(website=website, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("websites:edit", pk=website.pk)
    return render(request, "websites/edit.html", {"website": website, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def website_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    website = _website_or_404(request, pk)
    form = DeleteWebsiteForm(_data(request), website=website)
    if request.method == "POST" and form.is_valid():
        domain = website.domain
        website_delete(website=website)
        messages.success(request, f"Deleted {domain} and all its data.")
        return redirect("websites:list")
    return render(request, "websites/delete.html", {"website": website, "form": form})


@login_required
@require_GET
def website_snippet(request: HttpRequest, pk: int) -> HttpResponse:
    website = _website_or_404(request, pk)
    context = {
        "website": website,
        "snippet": snippet(website, request.build_absolute_uri("/")),
        "status": _status(website),
    }
    return render(request, "websites/snippet.html", context)


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
    return JsonResponse(_status(_website_or_404(request, pk)))
