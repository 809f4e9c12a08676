"""The website pages that show numbers: the list with today's figures and sparklines, the
snippet page and the snippet page's live status.

Every view needs a logged-in member of the website's team (the snippet page: an admin or
owner); an outsider's website id is a 404, the same answer as an id that does not exist.
Numbers come from ``stats.queries``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypedDict
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from stats import periods, queries
from teams.models import Role, role_at_least
from teams.selectors import membership_current, team_current
from tracking import paths
from tracking.models import DropReason
from websites.models import Website
from websites.selectors import website_get_for_user_or_404, website_list_for_user
from websites.services import is_loopback_host, public_base_url, snippet

SPARKLINE_DAYS = 14
# How often a page waiting for the first event asks what arrived (waiting.js, live.js).
WAITING_POLL_S = 5

# What to do about each reason an event was answered but not stored, for the waiting panel.
DROP_FIXES: dict[str, str] = {
    DropReason.BOT: (
        "The browser identified itself as a bot: a headless browser (HeadlessChrome), a "
        "crawler or a script. Test in a normal browser window."
    ),
    DropReason.FOREIGN_HOST: (
        "The page is on a host this website does not allow. Use a page on its domain, or "
        "list the host (a staging host, localhost) in the website's settings."
    ),
    DropReason.DO_NOT_TRACK: (
        "The browser sends Do Not Track or Global Privacy Control, and this server honours "
        "it. Test in a browser without it, or set HONOR_DNT=False on the server."
    ),
    DropReason.EXCLUDED_IP: "Your address is excluded on the website's Exclusions page.",
    DropReason.EXCLUDED_PATH: "The page's path is excluded on the website's Exclusions page.",
    DropReason.EXIT_WITHOUT_SESSION: (
        "Only page exits arrived, without the page view that starts a visit: the page view "
        "was dropped for one of the other reasons."
    ),
    DropReason.DUPLICATE: "Retries of events already stored: nothing to fix.",
    DropReason.RATE_LIMITED: (
        "One visit sent more page views in a minute than allowed "
        "(INGEST_SESSION_PAGEVIEWS_PER_MINUTE): a page stuck in a navigation loop."
    ),
    DropReason.REFERRER_SPAM: "The referrer is on the spam list: not a real visit.",
}


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
    team = team_current(request)
    rows = [_row(website) for website in website_list_for_user(request.user, team)]
    member = membership_current(request)
    context = {
        "rows": rows,
        "days": SPARKLINE_DAYS,
        "team": team,
        "can_add": member is not None and role_at_least(member.role, Role.ADMIN),
    }
    return render(request, "dashboard/websites.html", context)


@login_required
@require_GET
def website_snippet(request: HttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    base_url = public_base_url(request)
    context = {
        "website": website,
        "snippet": snippet(website, base_url),
        "script_host": urlsplit(base_url).netloc,
        "base_url_set": bool(settings.BASE_URL),
        "status": _status(website),
        "waiting": waiting_panel(website),
    }
    return render(request, "dashboard/snippet.html", context)


class DropRow(TypedDict):
    reason: str
    label: str
    count: int
    fix: str


def dropped_since_added(website: Website) -> list[DropRow]:
    """Events answered but not stored since the website was added, by reason, most first:
    ``[{"reason", "label", "count", "fix"}]`` (counted per UTC day)."""
    today = dt.datetime.now(website.tz).date()
    added = min(website.created_at.astimezone(website.tz).date(), today)
    dropped = queries.dropped_events(website, periods.for_days(added, today, website.tz))
    rows = [
        DropRow(
            reason=reason,
            label=DropReason(reason).label,
            count=count,
            fix=DROP_FIXES.get(reason, ""),
        )
        for reason, count in dropped.items()
        if count and reason in DropReason.values
    ]
    return sorted(rows, key=lambda row: (-row["count"], row["reason"]))


def waiting_panel(website: Website) -> dict[str, object]:
    """What the waiting panel (``_waiting.html``) starts with; waiting.js keeps it current
    from ``website_status``."""
    return {
        "dropped": dropped_since_added(website),
        "loopback": is_loopback_host(website.domain),
        "poll_s": WAITING_POLL_S,
        "endpoint": paths.current().endpoint,
    }


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
    """``{"receiving": bool, "first_event_at": iso | null, "events_today": int}``; with
    ``?dropped=1`` (the waiting panel) also ``"dropped": [{"reason", "label", "count",
    "fix"}]``, empty once receiving. Viewers too: the dashboard's waiting panel polls it."""
    website = website_get_for_user_or_404(request.user, pk)
    status: dict[str, object] = {**_status(website)}
    if request.GET.get("dropped") == "1":
        status["dropped"] = [] if status["receiving"] else dropped_since_added(website)
    return JsonResponse(status)
