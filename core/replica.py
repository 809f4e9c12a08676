"""Reads from a PostgreSQL streaming replica (``DATABASE_REPLICA_URL``), writes to the primary.

Only GET and HEAD requests read from the replica (dashboards, the stats API, share
links), and not within ``READ_YOUR_WRITES_SECONDS`` of the same browser's last POST (a
cookie says so): what a user just saved or a session just created is read back from the
primary. Everything else (ingestion, jobs, rollups, commands) never sets the flag and reads
the primary. Inside a transaction every read goes to the primary too.

The stats layer asks ``use_primary()`` when the replica has not replayed the snapshot
versions the cache has published (``stats.cache.versions``), so no answer is computed from
snapshots older than the version it is cached under.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
WROTE_COOKIE = "sa_wrote"
READ_YOUR_WRITES_SECONDS = 10
SAFE_METHODS = ("GET", "HEAD")


@dataclass
class _Request:
    on: bool  # reads go to the replica
    checked: set[int] = field(default_factory=set)  # websites whose versions were checked


_request: contextvars.ContextVar[_Request | None] = contextvars.ContextVar(
    "replica_request", default=None
)


def configured() -> bool:
    return REPLICA in settings.DATABASES


def reading() -> bool:
    """Whether this request's reads go to the replica now."""
    state = _request.get()
    return state is not None and state.on


def use_primary() -> None:
    """The rest of this request reads the primary."""
    state = _request.get()
    if state is not None:
        state.on = False


def first_check(website_id: int) -> bool:
    """True the first time this request asks for this website (then False)."""
    state = _request.get()
    if state is None or website_id in state.checked:
        return False
    state.checked.add(website_id)
    return True


class ReplicaRouter:
    """Django's database router for the two aliases (``settings.DATABASE_ROUTERS``)."""

    def db_for_read(self, model: type[Any], **hints: Any) -> str:
        if reading() and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Any], **hints: Any) -> str:
        # Explicit: a row read from the replica would otherwise be saved back to it.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same data on both

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


class ReplicaReadsMiddleware:
    """Sets the flag for the requests that may read the replica (outside the session
    middleware, so the session is read the same way)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        safe = request.method in SAFE_METHODS
        on = safe and configured() and WROTE_COOKIE not in request.COOKIES
        token = _request.set(_Request(on) if on else None)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if not safe and configured():
            response.set_cookie(
                WROTE_COOKIE,
                "1",
                max_age=READ_YOUR_WRITES_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
