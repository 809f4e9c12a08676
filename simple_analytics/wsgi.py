"""WSGI entry point: ``POST /api/event`` (or the endpoint ``tracking.paths`` configures) on a
fast path, everything else through Django.

The ingest beacon is anonymous and cookieless: Django's request objects and middleware
(sessions, auth, CSRF, messages, CSP, allauth) do nothing for it but cost CPU under the
GIL on every event. ``tracking.collect.collect`` is the same function the Django view
calls, so behaviour is identical; only the wrapping differs. The Host header is checked
against ALLOWED_HOSTS by Django's own rule, as CommonMiddleware does on every other route.
`serve` runs this application behind ``simple_analytics.front``, which answers the beacon
itself on its event loop with ``ingest_async`` (the same checks, the same ``collect`` steps).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "simple_analytics.settings")
django_application = get_wsgi_application()

# After Django is set up:
from django.conf import settings  # noqa: E402
from django.core.exceptions import DisallowedHost  # noqa: E402
from django.db import InterfaceError, OperationalError, close_old_connections  # noqa: E402
from django.http import HttpRequest  # noqa: E402

from tracking import paths  # noqa: E402
from tracking.collect import UNAVAILABLE, Answer, InThread, collect, collect_async  # noqa: E402

log = logging.getLogger("simple_analytics.ingest")
security_log = logging.getLogger("django.security.DisallowedHost")

# `serve` with JOBS_IN_WEB: this worker also runs the job consumer and scheduler.
if os.environ.get("SIMPLE_ANALYTICS_JOBS_IN_WEB") == "1":
    from jobs import inprocess

    inprocess.start()
_REASONS = {
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    405: "Method Not Allowed",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class _HostCheck(HttpRequest):
    """Just enough of a request for Django's own ``get_host()`` (ALLOWED_HOSTS) rule."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.META = environ

    def _get_scheme(self) -> str:
        return str(self.META.get("wsgi.url_scheme", "http"))


def ingest(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    refused = check_host(environ)
    if refused is not None:
        return respond(refused, start_response)
    stream = environ["wsgi.input"]
    answer = guarded(lambda: collect(environ.get("REQUEST_METHOD", ""), environ, stream.read))
    return respond(answer, start_response)


def check_host(environ: dict[str, Any]) -> Answer | None:
    """What Django answers on every other route for a Host not in ALLOWED_HOSTS
    (CommonMiddleware), as JSON; None for an allowed one."""
    key = (
        environ.get("HTTP_HOST"),
        environ.get("HTTP_X_FORWARDED_HOST"),
        environ.get("SERVER_NAME"),
        environ.get("HTTP_X_FORWARDED_PORT"),
        environ.get("SERVER_PORT"),
        environ.get("wsgi.url_scheme"),
        tuple(settings.ALLOWED_HOSTS),
        settings.USE_X_FORWARDED_HOST,
        settings.USE_X_FORWARDED_PORT,
        settings.DEBUG,
    )
    if key in _allowed_hosts:  # Django's rule costs more than the rest of a cached event
        return None
    try:
        _HostCheck(environ).get_host()
    except DisallowedHost as exc:
        security_log.error("%s", exc)
        return Answer(400, "invalid Host header")
    if len(_allowed_hosts) >= 256:
        _allowed_hosts.clear()
    _allowed_hosts.add(key)
    return None


# Hosts found allowed, with the settings they were checked against: only allowed ones are
# kept, so every refusal is still logged.
_allowed_hosts: set[tuple[Any, ...]] = set()


def guarded(run: Callable[[], Answer]) -> Answer:
    """``run()`` in a request thread: a failure becomes an answer, and the database
    connection it may have borrowed is handed back."""
    try:
        return run()
    except (OperationalError, InterfaceError):
        # The database went away under a path collect() does not guard: still "retry".
        log.exception("ingest failed: database unreachable")
        return UNAVAILABLE
    except Exception:
        log.exception("ingest failed")
        return Answer(500, "internal error")
    finally:
        # What Django does at the end of a request: hand a borrowed connection back (one
        # that broke is discarded; that must not turn the answer into an error).
        try:
            close_old_connections()
        except Exception:
            log.warning("could not hand a broken database connection back", exc_info=True)


async def ingest_async(environ: dict[str, Any], ip: str, in_thread: InThread) -> Answer:
    """``ingest`` for the front's event loop (``collect_async``), from the client address
    ``ip`` the front found (``core.net.client_ip``); ``in_thread`` runs what would wait."""
    refused = check_host(environ)
    if refused is not None:
        return refused
    try:
        return await collect_async(
            environ["REQUEST_METHOD"],
            environ,
            environ["wsgi.input"].getvalue(),
            ip=ip,
            in_thread=lambda run: in_thread(functools.partial(guarded, run)),
        )
    except Exception:
        log.exception("ingest failed")
        return Answer(500, "internal error")


def respond(answer: Answer, start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = answer.body
    reason = _REASONS.get(answer.status, "")
    headers = [*answer.headers, ("Content-Length", str(len(body)))]
    start_response(f"{answer.status} {reason}", headers)
    return [body]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") in paths.current().endpoints:
        return ingest(environ, start_response)
    return django_application(environ, start_response)
