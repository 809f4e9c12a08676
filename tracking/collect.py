"""``collect()``: one ingestion request -> an ``Answer``, independent of any web framework.

Every door calls it: the Django view (tests, and any deployment that routes through
Django), the WSGI fast path in ``simple_analytics.wsgi``, which answers ``POST /api/event``
without Django's request/middleware machinery (sessions, auth, CSRF, messages, CSP: none of
it applies to an anonymous, cookieless beacon), and ``collect_async``, the same steps on the
front's event loop. The answer is 202 only once the event is
committed (or deliberately dropped: bots, duplicates, Do Not Track, ...); 429 with
``Retry-After`` over a rate limit; 503 with ``Retry-After`` when the event could not be
stored (nothing of it is kept, so the client's retry is safe). What runs after a commit
(the dashboards' refresh) is set at start-up with ``set_commit_hook``: tracking does not
depend on the apps that consume its events.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError

from core import blocking
from core.net import client_ip
from tracking import payload as payload_mod
from tracking import pipeline, ratelimit
from tracking.groupcommit import CommitHook, GroupCommitter, IngestUnavailable
from tracking.models import DropReason
from tracking.pipeline import IncomingEvent
from websites.selectors import tracked_site_get

COMMITTER = GroupCommitter(
    max_batch=settings.INGEST_BATCH_MAX,
    writers=settings.INGEST_WRITERS,
    inline=not settings.INGEST_GROUP_COMMIT,
)


def set_commit_hook(hook: CommitHook | None) -> None:
    """Call ``hook(website_ids)`` after each commit of live events (``jobs.apps`` sets
    its refresh request when Django starts)."""
    COMMITTER.on_commit = hook


HEADERS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "Content-Type"),
    ("Access-Control-Max-Age", "86400"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
]


@dataclass(frozen=True)
class Answer:
    status: int
    error: str | None = None
    extra_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return json.dumps({"error": self.error}).encode() if self.error else b""

    @property
    def headers(self) -> list[tuple[str, str]]:
        content = [("Content-Type", "application/json")] if self.error else []
        return HEADERS + content + self.extra_headers


# The database could not take the event (stopped, restarting, overloaded): nothing of it
# is stored, and the client retries with the same event id (pixel.js does, twice).
UNAVAILABLE = Answer(
    503, "temporarily unable to store the event, retry later", [("Retry-After", "5")]
)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A well-formed event within its rate limits, not yet looked at further."""

    payload: payload_mod.Payload
    ip: str


def collect(
    method: str, meta: Mapping[str, str], read: Callable[[int], bytes], *, ip: str | None = None
) -> Answer:
    """Handle one request: ``meta`` holds CGI-style keys (``REMOTE_ADDR``,
    ``CONTENT_LENGTH``, ``HTTP_USER_AGENT``, ``HTTP_X_FORWARDED_FOR``); ``read(n)`` reads at
    most ``n`` bytes of the body; ``ip``: the client's address when the caller found it
    already (``core.net.client_ip`` of the same keys).

    When the database is down, answers 503 with ``Retry-After`` within about
    ``INGEST_TIMEOUT_SECONDS`` of the call: a pooled connection is waited for at most
    ``DB_POOL_TIMEOUT``, the commit until the rest of that budget is spent (longer only
    while the writers are committing, i.e. the database is slow, not gone)."""
    started = time.monotonic()
    admitted = admit(method, meta, read, ip=ip)
    if isinstance(admitted, Answer):
        return admitted
    return finish(admitted, meta, started)


# Runs a function in a thread that may wait, and awaits its result.
InThread = Callable[[Callable[[], Answer]], Awaitable[Answer]]


async def collect_async(
    method: str, meta: Mapping[str, str], body: bytes, *, ip: str | None = None, in_thread: InThread
) -> Answer:
    """``collect`` on an event loop: what memory can answer is answered here, without a
    thread; what would wait (a cache miss, a rate-limit batch for Redis) goes to
    ``in_thread`` from the step it reached (``core.blocking``)."""
    started = time.monotonic()
    if COMMITTER.inline:
        return await in_thread(lambda: collect(method, meta, io.BytesIO(body).read, ip=ip))
    try:
        with blocking.forbidden():
            admitted = admit(method, meta, io.BytesIO(body).read, ip=ip)
    except blocking.WouldBlock:
        return await in_thread(lambda: collect(method, meta, io.BytesIO(body).read, ip=ip))
    if isinstance(admitted, Answer):
        return admitted
    try:
        with blocking.forbidden():
            event = prepare(admitted, meta)
    except blocking.WouldBlock:
        return await in_thread(lambda: finish(admitted, meta, started))
    if isinstance(event, Answer):
        return event
    budget = settings.INGEST_TIMEOUT_SECONDS - (time.monotonic() - started)
    try:
        await COMMITTER.submit_async(event, timeout=max(budget, 0.05))
    except IngestUnavailable as exc:
        _log_unavailable(exc)
        return UNAVAILABLE
    return Answer(202)


def admit(
    method: str, meta: Mapping[str, str], read: Callable[[int], bytes], *, ip: str | None = None
) -> Answer | Admitted:
    """The method, the body and the rate limits: an ``Answer`` when the request stops here."""
    if method == "OPTIONS":
        return Answer(204)
    if method != "POST":
        return Answer(405, "method not allowed: use POST", [("Allow", "POST, OPTIONS")])
    try:
        payload = payload_mod.parse(payload_mod.read_body(meta, read))
    except payload_mod.InvalidPayload as exc:
        return Answer(exc.status, exc.message)
    if ip is None:
        ip = client_ip(
            meta.get("REMOTE_ADDR", ""),
            meta.get("HTTP_X_FORWARDED_FOR", ""),
            settings.TRUSTED_PROXIES,
        )
    # Limits come after parsing (a malformed body costs about what a cache round trip
    # does) and before the site lookup, so a flood of made-up site ids stops at its IP's
    # limit instead of reaching the database.
    retry_after = ratelimit.check(ip, payload.site)
    if retry_after:
        return Answer(429, "too many events, retry later", [("Retry-After", str(retry_after))])
    return Admitted(payload, ip)


def prepare(admitted: Admitted, meta: Mapping[str, str]) -> Answer | IncomingEvent:
    """The website and the pipeline: the event to store, or the ``Answer`` (an unknown
    site, or a drop, counted here)."""
    # Both read the database only on a cache miss (the site every minute, the salt once a
    # day per process).
    site = tracked_site_get(admitted.payload.site)
    if site is None:
        return Answer(400, "unknown or inactive site id")
    now = dt.datetime.now(dt.UTC)
    user_agent = meta.get("HTTP_USER_AGENT", "")[:1024]
    do_not_track = settings.HONOR_DNT and (
        meta.get("HTTP_SEC_GPC", "").strip() == "1" or meta.get("HTTP_DNT", "").strip() == "1"
    )
    event = pipeline.run(
        admitted.payload,
        site=site,
        ip=admitted.ip,
        user_agent=user_agent,
        at=now,
        do_not_track=do_not_track,
        origin=meta.get("HTTP_ORIGIN", ""),
        accept_language=meta.get("HTTP_ACCEPT_LANGUAGE", "")[:256],
    )
    if isinstance(event, DropReason):
        # Don't teach bots: same answer as an accepted event, but counted for operators.
        # (A duplicate is dropped by the writer and answered the same way: the client
        # must stop retrying.)
        COMMITTER.count_drop(site.id, now.date(), event)
        return Answer(202)
    return event


def finish(admitted: Admitted, meta: Mapping[str, str], started: float) -> Answer:
    """``prepare`` and the commit, in a thread that may wait."""
    try:
        event = prepare(admitted, meta)
        if isinstance(event, Answer):
            return event
        budget = settings.INGEST_TIMEOUT_SECONDS - (time.monotonic() - started)
        COMMITTER.submit(event, timeout=max(budget, 0.05))
    except (IngestUnavailable, OperationalError, InterfaceError) as exc:  # database unreachable
        _log_unavailable(exc)
        return UNAVAILABLE
    return Answer(202)


log = logging.getLogger(__name__)
_LOG_EVERY_S = 10.0
_unavailable_lock = threading.Lock()
_unavailable_count = 0  # 503s since the last line
_unavailable_logged_at = -_LOG_EVERY_S


def _log_unavailable(exc: BaseException) -> None:
    """Say why ingestion answered 503, at most once per ``_LOG_EVERY_S`` per process (with
    the count since the last line): an outage must not flood the log."""
    global _unavailable_count, _unavailable_logged_at
    with _unavailable_lock:
        _unavailable_count += 1
        now = time.monotonic()
        if now - _unavailable_logged_at < _LOG_EVERY_S:
            return
        count, _unavailable_count, _unavailable_logged_at = _unavailable_count, 0, now
    log.warning(
        "ingestion answered 503 (%d since the last such line): %s: %s",
        count,
        type(exc).__name__,
        exc,
    )
