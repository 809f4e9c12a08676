"""The stats HTTP API (``/api/v1/...``, per-user API keys) and the page that manages keys.

Read endpoints: validate -> authorise -> query (through ``stats.queries``) -> respond.
No key or an unknown/revoked key is a 401; a site outside the teams of the key's user is a
404, the same answer as a site that does not exist. A client IP that sent too many wrong keys
gets 429 + ``Retry-After`` for every API request until its window closes, so keys cannot
be guessed (``API_KEY_FAILURES_PER_MINUTE``; see ``accounts.throttle``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts import throttle
from api.models import ApiKey, Scope, hash_key
from api.openapi import CONVERSION_BREAKDOWNS
from api.openapi import document as openapi_document
from core.http import AuthenticatedHttpRequest
from stats import intervals, queries
from stats.dimensions import PUBLIC_BREAKDOWNS
from stats.filters import FilterError, Filters
from stats.periods import Period, PeriodError, from_query
from websites.models import Website
from websites.selectors import website_get_by_tracking_id_for_user, website_list_for_user
from websites.services import public_base_url

MAX_LIMIT = 1000
_LIMIT = re.compile(r"[0-9]{1,4}")


KEY_FAILURE_WINDOW_S = 60


class ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        self.status, self.message, self.retry_after = status, message, retry_after


def _error(status: int, message: str, retry_after: int | None = None) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="simple-analytics"'
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _key_failures(request: HttpRequest) -> throttle.Window:
    return throttle.window("api-key", throttle.client_id(request), KEY_FAILURE_WINDOW_S)


def _key_user(request: HttpRequest) -> User:
    return api_key(request).user


def api_key(request: HttpRequest) -> ApiKey:
    """The live key the request sends (its ``user`` loaded), or ApiError 401/429."""
    limit = settings.API_KEY_FAILURES_PER_MINUTE
    failures = _key_failures(request) if limit else None
    header = request.META.get("HTTP_AUTHORIZATION", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else ""
    key = key or request.META.get("HTTP_X_API_KEY", "").strip()
    # Checked before the key, and for good keys too: otherwise a guesser would still learn
    # which key is valid from a 200 among the 429s.
    if failures is not None:
        # A key takes a place before it is looked up and a good one gives it back, so
        # racing requests cannot look up more wrong keys than the limit.
        refused = (
            not throttle.reserve(failures, limit, KEY_FAILURE_WINDOW_S)
            if key
            else throttle.reached(failures, limit)
        )
        if refused:
            raise ApiError(
                429,
                "too many invalid API keys from your address; retry later",
                failures.retry_after,
            )
    if not key:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
    wrong = False
    try:
        row = (
            ApiKey.objects.select_related("user")
            .filter(key_hash=hash_key(key), revoked_at__isnull=True)
            .first()
        )
        wrong = row is None or not row.user.is_active
    finally:
        # A database error gives the place back too: it says nothing about the key.
        if failures is not None and wrong:
            throttle.confirm(failures, KEY_FAILURE_WINDOW_S)
        elif failures is not None:
            throttle.release(failures)
    if wrong or row is None:
        raise ApiError(401, "invalid or revoked API key")
    if row.last_used_at is None or (timezone.now() - row.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row


def _context(request: HttpRequest) -> tuple[Website, Period, Filters, int]:
    user = _key_user(request)
    site = request.GET.get("site", "")
    # NUL cannot even be compared by PostgreSQL: no site has it.
    known = site and "\x00" not in site
    # Any member of the website's team reads its numbers, viewers included.
    website = website_get_by_tracking_id_for_user(user, site) if known else None
    if website is None:
        raise ApiError(404, "no such site")
    try:
        period = from_query(request.GET, website.tz)
        filters = Filters.from_query(request.GET)
    except (PeriodError, FilterError) as exc:
        raise ApiError(400, str(exc)) from None
    raw_limit = request.GET.get("limit", "10")
    # Only ASCII digits: isdigit() also takes "²" and int() also takes "٣", " 1" and "1_0".
    if not _LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return website, period, filters, int(raw_limit)


View = Callable[..., HttpResponse]


def _api(view: View) -> View:
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return _error(exc.status, exc.message, exc.retry_after)

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return require_GET(wrapper)


@_api
def stats(request: HttpRequest) -> HttpResponse:
    website, period, filters, limit = _context(request)
    return JsonResponse(queries.stats_json(website, period, filters=filters, limit=limit))


@_api
def timeseries(request: HttpRequest) -> HttpResponse:
    website, period, filters, _ = _context(request)
    try:
        interval = intervals.parse(request.GET.get("interval"), period)
    except intervals.IntervalError as exc:
        raise ApiError(400, str(exc)) from None
    return JsonResponse(
        {
            "site": website.tracking_id,
            "from": period.first_day.isoformat(),
            "to": period.last_day.isoformat(),
            "granularity": interval,
            "timeseries": queries.timeseries_json(
                website, period, filters=filters, interval=interval
            ),
        }
    )


# With ``event=NAME``, the events breakdown lists the property values sent with it.
BREAKDOWN_NAMES = (*PUBLIC_BREAKDOWNS, *CONVERSION_BREAKDOWNS)


@_api
def breakdown(request: HttpRequest, dimension: str) -> HttpResponse:
    if dimension not in BREAKDOWN_NAMES:
        return _error(404, f"unknown breakdown; one of {', '.join(BREAKDOWN_NAMES)}")
    website, period, filters, limit = _context(request)
    event = request.GET.get("event")
    if event is not None and (dimension != "events" or not event or "\x00" in event):
        raise ApiError(400, "event must be a non-empty event name, with the events breakdown")
    results: list[dict[str, Any]]
    if dimension == "goals":
        results = queries.goals_json(website, period, filters=filters, limit=limit)
    elif dimension == "events" and event is not None:
        rows = queries.properties(website, period, event, filters=filters, limit=limit)
        results = [
            {"key": key, "value": value, "visitors": visitors, "events": n}
            for key, value, visitors, n in rows
        ]
    elif dimension == "events":
        rows_ = queries.events(website, period, filters=filters, limit=limit)
        results = [r._asdict() for r in rows_]
    else:
        found = queries.breakdown(website, period, dimension, filters=filters, limit=limit)
        results = [queries.row_json(r) for r in found]
    return JsonResponse(
        {
            "site": website.tracking_id,
            "from": period.first_day.isoformat(),
            "to": period.last_day.isoformat(),
            "dimension": dimension,
            "results": results,
        }
    )


@require_GET
def openapi(request: HttpRequest) -> HttpResponse:
    doc = openapi_document()
    doc["servers"] = [{"url": request.build_absolute_uri("/").rstrip("/")}]
    return JsonResponse(doc)


# --- key management (session-authenticated pages) -----------------------------------


@login_required
def keys(request: AuthenticatedHttpRequest) -> HttpResponse:
    rows = ApiKey.objects.filter(user=request.user)
    new_key = request.session.pop("new_api_key", None)
    context = {
        "keys": rows,
        "new_key": new_key,
        # "Try it" asks for the stats of one of the user's own websites, so it works as shown.
        "example_site": next(iter(website_list_for_user(request.user)), None),
        "api_base": public_base_url(request),
        "scopes": Scope.choices,
    }
    return render(request, "api/keys.html", context)


@login_required
@require_POST
def key_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()
    if not name or len(name) > 100 or "\x00" in name:  # NUL: PostgreSQL cannot store it
        messages.error(request, "Give the key a name of at most 100 characters.")
        return redirect("api:keys")
    created = throttle.window("api-key-create", str(request.user.pk), 3600)
    if throttle.hit(created, 3600) > settings.API_KEYS_CREATED_PER_HOUR:
        messages.error(request, "Too many keys created in the last hour; try again later.")
        return redirect("api:keys")
    scope = request.POST.get("scope", Scope.READ)
    if scope not in Scope.values:
        messages.error(request, "Pick what the key may do: read only, or read and write.")
        return redirect("api:keys")
    _, plain = ApiKey.issue(user=request.user, name=name, scope=scope)
    # Shown once on the next page, then gone: only its hash is stored.
    request.session["new_api_key"] = plain
    return redirect("api:keys")


@login_required
@require_POST
def key_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(ApiKey, pk=pk, user=request.user, revoked_at__isnull=True)
    row.revoked_at = timezone.now()
    row.save(update_fields=["revoked_at"])
    messages.success(request, f"Revoked “{row.name}”.")
    return redirect("api:keys")
