"""A share link's public pages: ``/share/<token>/`` with its details, CSV export, filter
form and live numbers. They are the owner's views (through ``dashboard.scope``) behind
the link's checks, in this order:

1. the method (GET and HEAD; POST only to give the password);
2. the client's request limit, then its budget of unknown or revoked tokens, like wrong
   API keys: 429 + ``Retry-After`` (wrong passwords have a budget of their own);
3. the token: unknown or revoked is a 404, the same for both;
4. the link's own request limit, then its password (remembered per browser session);
5. the page, sent with ``noindex``, ``Referrer-Policy: no-referrer`` (the token is in the
   URL) and the link's ``frame-ancestors`` (``'none'`` unless it lists hosts).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from csp.utils import build_policy
from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts import throttle
from dashboard import details, export, views
from dashboard.scope import Scope
from websites.models import ShareLink
from websites.sharing import (
    share_link_check_password,
    share_link_get_by_token,
    share_link_unlock_value,
)

WINDOW_S = 60
LINK_PASSWORD_WINDOW_S = 3600
# Wrong passwords of one link from every client together: bounds a distributed guesser.
LINK_PASSWORD_FAILURES_PER_HOUR = 100
SESSION_KEY = "share-unlocked:{}"
_METHODS = ("GET", "HEAD", "POST")

ShareView = Callable[..., HttpResponse]


def shared(view: ShareView, *, json: bool = False) -> Callable[..., HttpResponse]:
    """``view(request, scope, **kwargs)`` as the page of a share link (the module's steps);
    ``json``: refusals in JSON, for the live numbers."""

    @never_cache
    @wraps(view)
    def wrapped(request: HttpRequest, token: str, **kwargs: Any) -> HttpResponse:
        if request.method not in _METHODS:
            return HttpResponseNotAllowed(_METHODS)
        link = _link(request, token, json)
        if isinstance(link, HttpResponse):
            return _protect(link, None)
        locked = _locked(request, link, json)
        if locked is not None:
            return _protect(locked, link, referrer="same-origin")
        if request.method == "POST":  # the password was given in another tab meanwhile
            return _protect(HttpResponseRedirect(request.get_full_path(), status=303), link)
        return _protect(view(request, Scope(link.website, token), **kwargs), link)

    return wrapped


def _too_many(message: str, retry_after: int, json: bool) -> HttpResponse:
    response: HttpResponse
    if json:
        response = JsonResponse({"error": message}, status=429)
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response


def _failures(request: HttpRequest, what: str) -> throttle.Window:
    return throttle.window(f"share-{what}", throttle.client_id(request), WINDOW_S)


def _link(request: HttpRequest, token: str, json: bool) -> ShareLink | HttpResponse:
    """The live link of ``token`` once the limits allow the request; a 429 otherwise.
    Raises Http404 for an unknown or revoked token."""
    per_client: int = settings.SHARE_REQUESTS_PER_MINUTE
    if per_client:
        client = throttle.window("share-client", throttle.client_id(request), WINDOW_S)
        if throttle.hit(client, WINDOW_S) > per_client:
            return _too_many("too many requests; retry later", client.retry_after, json)
    limit: int = settings.SHARE_FAILURES_PER_MINUTE
    failures = _failures(request, "token")
    # As for API keys: a token takes a place before it is looked up, a good one gives it
    # back, so racing requests cannot try more unknown tokens than the limit.
    if limit and not throttle.reserve(failures, limit, WINDOW_S):
        return _too_many("too many failed attempts; retry later", failures.retry_after, json)
    link = None
    try:
        link = share_link_get_by_token(token)
    finally:
        if limit and link is None:
            throttle.confirm(failures, WINDOW_S)
        elif limit:
            throttle.release(failures)
    if link is None:
        raise Http404("No such share link")
    per_link: int = settings.SHARE_LINK_REQUESTS_PER_MINUTE
    if per_link:
        window = throttle.window("share-link", str(link.pk), WINDOW_S)
        if throttle.hit(window, WINDOW_S) > per_link:
            return _too_many("this link is asked too often; retry later", window.retry_after, json)
    return link


def _locked(request: HttpRequest, link: ShareLink, json: bool) -> HttpResponse | None:
    """None when the link needs no password or this session gave it; otherwise the
    password page (or, after a right password, the redirect to the page asked for)."""
    if not link.password:
        return None
    key = SESSION_KEY.format(link.pk)
    if request.session.get(key) == share_link_unlock_value(link):
        return None
    if json:
        return JsonResponse({"error": "this share link needs its password"}, status=403)
    if request.method != "POST":
        return _password_page(request, "", 200)
    limit: int = settings.SHARE_FAILURES_PER_MINUTE
    failures = _failures(request, "password")
    of_link = throttle.window("share-password", str(link.pk), LINK_PASSWORD_WINDOW_S)
    if limit and throttle.reached(of_link, LINK_PASSWORD_FAILURES_PER_HOUR):
        return _password_refused(request, of_link.retry_after)
    if limit and not throttle.reserve(failures, limit, WINDOW_S):
        return _password_refused(request, failures.retry_after)
    right = share_link_check_password(link, request.POST.get("password", ""))
    if limit and right:
        throttle.release(failures)
    elif limit:
        throttle.confirm(failures, WINDOW_S)
        throttle.confirm(of_link, LINK_PASSWORD_WINDOW_S)
    if not right:
        return _password_page(request, "That is not the password of this dashboard.", 403)
    request.session[key] = share_link_unlock_value(link)
    if not request.user.is_authenticated:
        # Forgotten when the browser closes; a logged-in visitor's login keeps its own expiry.
        request.session.set_expiry(0)
    return HttpResponseRedirect(request.get_full_path(), status=303)


def _password_page(request: HttpRequest, error: str, status: int) -> HttpResponse:
    return render(request, "dashboard/share_password.html", {"error": error}, status=status)


def _password_refused(request: HttpRequest, retry_after: int) -> HttpResponse:
    minutes = -(-retry_after // 60)
    message = f"Too many wrong passwords: try again in {minutes} minute{'s' * (minutes != 1)}."
    response = _password_page(request, message, 429)
    response["Retry-After"] = str(retry_after)
    return response


def _protect(
    response: HttpResponse, link: ShareLink | None, *, referrer: str = "no-referrer"
) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    # The password form keeps its origin: Origin would otherwise be "null" and CSRF refuse it.
    response["Referrer-Policy"] = referrer
    hosts = link.hosts if link is not None else []
    if hosts:
        response["Content-Security-Policy"] = build_policy(replace={"frame-ancestors": hosts})
        response.xframe_options_exempt = True
    return response


def _live(request: HttpRequest, scope: Scope) -> HttpResponse:
    return views.live_data(request, scope.website)


share_overview = shared(views.overview_page)
share_live = shared(_live, json=True)
share_filter = shared(views.add_filter_redirect)
share_details = shared(details.details_page)
share_export = shared(export.export_response)
