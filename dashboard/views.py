"""The website dashboard: validate the query -> authorise -> read the stats layer -> render.

Views format; every number comes from ``stats.queries`` (through ``dashboard.presenters``).
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dashboard import conversions, filtering, presenters, segments
from dashboard.scope import Scope
from dashboard.sites import WAITING_POLL_S, waiting_panel
from stats import cache as stats_cache
from stats import queries
from stats.filters import NO_FILTERS, FilterError, Filters
from stats.periods import Period, PeriodError, from_query
from websites.models import Website
from websites.selectors import website_get_for_user_or_404
from websites.services import public_base_url, snippet

REALTIME_REFRESH_S = 15
LIVE_POLL_S = 10
# A page whose period includes today asks this often whether the refresh job published new
# numbers (then swaps them in), so they show within this long of the job.
UPDATE_POLL_S = 5


class QueryError(ValueError):
    pass


def bad_request(
    request: HttpRequest, website: Website, message: str, scope: Scope | None = None
) -> HttpResponse:
    scope = scope or Scope(website)
    context = {
        "website": website,
        "message": message,
        "reset_url": scope.url("overview"),
        **share_context(scope),
    }
    return render(request, "dashboard/error.html", context, status=400)


def share_context(scope: Scope) -> dict[str, object]:
    """What every dashboard template needs to tell a share link's page from the owner's."""
    base = "dashboard/share_base.html" if scope.shared else "base.html"
    # Settings links (goals, snippet, settings, segment changes): admins and owners only.
    manage = not scope.shared and scope.website.can_admin
    return {"scope": scope, "share": scope.shared, "base_template": base, "manage": manage}


def _check_query(params: QueryDict) -> None:
    # stats.periods ignores from/to unless the range is custom; a link that carries them
    # with another period is ambiguous, so say so instead of guessing.
    period = params.get("period")
    if period and period != "custom" and (params.get("from") or params.get("to")):
        raise QueryError("from and to only go with period=custom")


def period_and_filters(
    request: HttpRequest,
    website: Website,
    now: dt.datetime | None = None,
    scope: Scope | None = None,
) -> tuple[Period, Filters] | HttpResponse:
    """The query string's period and filters, or the 400 page that says what is wrong."""
    try:
        _check_query(request.GET)
        return from_query(request.GET, website.tz, now=now), Filters.from_query(request.GET)
    except (PeriodError, FilterError, QueryError) as exc:
        return bad_request(request, website, str(exc), scope)


@never_cache
@login_required
@require_safe
def overview(request: HttpRequest, pk: int) -> HttpResponse:
    return overview_page(request, Scope(website_get_for_user_or_404(request.user, pk)))


def overview_page(request: HttpRequest, scope: Scope) -> HttpResponse:
    """The dashboard of ``scope``'s website, for its owner or through a share link."""
    website = scope.website
    now = dt.datetime.now(dt.UTC)
    asked = period_and_filters(request, website, now, scope)
    if isinstance(asked, HttpResponse):
        return asked
    period, filters = asked

    path = request.path
    view = presenters.view_state(request.GET)
    live_update = period.key == "realtime" or period.now is not None
    base = {
        "website": website,
        "period": period,
        "filters": filters,
        "range_text": presenters.range_text(period),
        "period_links": presenters.period_links(path, period, filters, website, now, view),
        "live_url": scope.url("live"),
        "export_url": scope.url("export"),
        **share_context(scope),
        "live_poll_s": UPDATE_POLL_S if live_update else LIVE_POLL_S,
        "today": now.astimezone(website.tz).date().isoformat(),
        # What the custom range form keeps: the filters and the view (open event, funnel).
        "filter_query": {**filters.as_query(), **view},
    }
    if not queries.has_data(website):
        context = {
            **base,
            "empty": True,
            "wait_poll_s": WAITING_POLL_S,
        }
        if not scope.shared:
            context["snippet"] = snippet(website, public_base_url(request))
            context["waiting"] = waiting_panel(website)
        return render(request, "dashboard/overview.html", context)

    previous_period = period.previous()
    # Read before the numbers: a refresh published meanwhile makes the page ask again.
    version = stats_cache.versions(website.id)
    # Every number of the page in one call: one cache round trip when the job warmed it. An
    # open event's properties, asked apart, reuse the snapshot rows it read on a miss.
    with queries.one_read():
        data = queries.dashboard(website, period, filters=filters, limit=presenters.PANEL_LIMIT)
        current, previous = data["summary"], data["previous"]
        conversion_panels = conversions.panels(
            website, period, filters, path=path, view=view, data=data
        )
    chart = presenters.chart(website, period, filters, now, points=data["timeseries"], view=view)
    panels = presenters.panels(
        website,
        period,
        filters,
        path=path,
        total_visitors=current.visitors,
        breakdowns=data["breakdowns"],
        view=view,
    )
    before, after = presenters.neighbours(period, now)
    context = {
        **base,
        "empty": False,
        "cards": presenters.cards(current, previous, presenters.range_text(previous_period)),
        "previous_text": presenters.range_text(previous_period),
        "chart": chart,
        "chart_label": presenters.chart_label(website, period, filters, current, view),
        "chart_controls": presenters.chart_controls(path, period, filters, view),
        "panels": panels,
        "conversions": conversion_panels,
        "chips": presenters.chips(path, period, filters, view),
        "filter_url": scope.url("filter"),
        "filter_form": filtering.form_context(period, filters, view),
        "segments": None
        if scope.shared
        else segments.menu(request, website, period, filters, view),
        "clear_url": presenters.dashboard_url(path, period, NO_FILTERS, view=view),
        "before_url": before and presenters.dashboard_url(path, before, filters, view=view),
        "after_url": after and presenters.dashboard_url(path, after, filters, view=view),
        "quality": presenters.data_quality(website, period, current),
        "current_visitors": queries.current_visitors(website, now=now),
        "refresh_s": REALTIME_REFRESH_S if period.key == "realtime" else 0,
        "live_update": live_update,
        "stats_version": version,
    }
    return render(request, "dashboard/overview.html", context)


@never_cache
@login_required
@require_safe
def live(request: HttpRequest, pk: int) -> JsonResponse:
    return live_data(request, website_get_for_user_or_404(request.user, pk))


def live_data(request: HttpRequest, website: Website) -> JsonResponse:
    """Current visitors (last 5 minutes) and whether the site has any data yet; with
    ``?version=`` (what an open dashboard shows) also the website's current stats version,
    which changes when a refresh publishes new numbers."""
    data: dict[str, object] = {
        "current_visitors": queries.current_visitors(website),
        "has_data": queries.has_data(website),
    }
    if "version" in request.GET:
        data["version"] = stats_cache.versions(website.id)
    return JsonResponse(data)


@never_cache
@login_required
@require_safe
def add_filter(request: HttpRequest, pk: int) -> HttpResponse:
    return add_filter_redirect(request, Scope(website_get_for_user_or_404(request.user, pk)))


def add_filter_redirect(request: HttpRequest, scope: Scope) -> HttpResponse:
    """The "Filter" form's answer: a redirect to the dashboard with the filter added."""
    website = scope.website
    asked = period_and_filters(request, website, scope=scope)
    if isinstance(asked, HttpResponse):
        return asked
    period, filters = asked
    name = request.GET.get("dimension", "")
    try:
        added = filtering.condition(name, request.GET.get("op", ""), request.GET.get("values", ""))
        filters = filters.replace(**{name: added})
    except FilterError as exc:
        return bad_request(request, website, str(exc), scope)
    view = presenters.view_state(request.GET)
    path = scope.url("overview")
    return HttpResponseRedirect(presenters.dashboard_url(path, period, filters, view=view))
