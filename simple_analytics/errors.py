"""The project's 500 handler: a database that cannot be reached is a 503, not a 500.

Django turns every uncaught exception, in a view or in a middleware (the session and
authentication middleware query the database before any view runs), into a call to
``handler500`` inside the ``except`` block, so the exception is still at hand here. A
stopped or restarting PostgreSQL, or a connection pool with no connection free within
``DB_POOL_TIMEOUT`` (psycopg's ``PoolTimeout``, raised as Django's ``OperationalError``), is
temporary: the client is told to retry (503 + ``Retry-After``), in JSON under ``/api/`` and
as a page elsewhere. Every other error keeps Django's plain 500 page. The 403 handler
names the missing role, and nothing else an exception says.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults

from teams.models import RoleRequired

RETRY_AFTER_SECONDS = 5


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 403 page: the role an action needs when that is why, never the message of any
    other ``PermissionDenied`` (it may carry anything)."""
    need = exception.need.label.lower() if isinstance(exception, RoleRequired) else ""
    return HttpResponse(render_to_string("403.html", {"need": need}, request), status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if not isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return defaults.server_error(request)
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": "temporarily unavailable, retry later"}, status=503)
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
