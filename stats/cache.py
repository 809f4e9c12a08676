"""The stats cache: versioned keys and graceful degradation.

Keys hold the website, the function, the period, the filters and the website's snapshot
versions (``rollups.models.Watermark.version`` of both granularities). Every snapshot
write bumps a version, so a refresh makes older answers unreachable: nothing is deleted by
hand. Answers of periods that include the open day also expire after
``STATS_LIVE_CACHE_SECONDS`` so a stopped worker cannot freeze them.

The cache is Redis in production and the local shared cache by default. Any cache error
(Redis down) is logged once per ``BACKOFF_SECONDS`` and the answer is computed directly:
slower, never an error.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS

from core import replica

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_SECONDS = 5.0
VERSION_MEMO_SECONDS = 1.0
LONG_SECONDS = 7 * 24 * 3600
MISSING = object()

_down_until = 0.0
_down_lock = threading.Lock()
_versions: dict[int, tuple[float, str]] = {}
_bypass: contextvars.ContextVar[bool] = contextvars.ContextVar("stats_bypass", default=False)
# Versions this context reads before they are published (``ahead``): website id -> value.
_ahead: contextvars.ContextVar[dict[int, str] | None] = contextvars.ContextVar(
    "stats_ahead", default=None
)


def _available() -> bool:
    return time.monotonic() >= _down_until


def _failed(exc: Exception) -> None:
    global _down_until
    with _down_lock:
        if _available():
            log.warning("stats cache unavailable, computing directly: %s", exc)
        _down_until = time.monotonic() + BACKOFF_SECONDS


def safe_get_many(keys: list[str]) -> dict[str, Any]:
    if not _available():
        return {}
    try:
        return cache.get_many(keys)
    except Exception as exc:  # any backend error: degrade, never fail the read
        _failed(exc)
        return {}


def safe_set(key: str, value: Any, timeout: float | None) -> None:
    if not _available():
        return
    try:
        cache.set(key, value, timeout)
    except Exception as exc:
        _failed(exc)


def version_key(website_id: int) -> str:
    return f"stats-version:{website_id}"


def versions(website_id: int) -> str:
    """The website's snapshot versions, from the cache (mirrored from the database)."""
    ahead = _ahead.get()
    if ahead is not None and website_id in ahead:
        return ahead[website_id]
    memo = _versions.get(website_id)
    now = time.monotonic()
    if memo is not None and now - memo[0] < VERSION_MEMO_SECONDS:
        value = memo[1]
    else:
        value = _cached_versions(website_id)
        _versions[website_id] = (now, value)
    if replica.reading():
        _replica_has(website_id, value)
    return value


def _cached_versions(website_id: int) -> str:
    found = safe_get_many([version_key(website_id)]).get(version_key(website_id))
    return publish_versions(website_id) if found is None else str(found)


def _stored_versions(website_id: int, using: str = DEFAULT_DB_ALIAS) -> str:
    from rollups.models import Watermark

    rows = dict(
        Watermark.objects.using(using)
        .filter(website_id=website_id)
        .values_list("granularity", "version")
    )
    return f"{rows.get('day', 0)}.{rows.get('hour', 0)}"


def _replica_has(website_id: int, value: str) -> None:
    """On a replica read, once per request and website: read the primary from here on
    unless the replica has replayed the published versions (their snapshot rows too)."""
    if replica.first_check(website_id) and (
        _stored_versions(website_id, using=replica.REPLICA) != value
    ):
        replica.use_primary()


@contextlib.contextmanager
def ahead(website_id: int) -> Iterator[None]:
    """Inside, this context reads the website's versions from the database, before they
    are published: a warm-up fills the keys readers ask for once ``publish_versions`` runs."""
    token = _ahead.set({**(_ahead.get() or {}), website_id: _stored_versions(website_id)})
    try:
        yield
    finally:
        _ahead.reset(token)


def publish_versions(website_id: int) -> str:
    """Read the versions from the database and mirror them into the cache."""
    value = _stored_versions(website_id)  # the primary's, whatever this request reads
    # Re-read from the database at least every minute: a crashed job cannot pin it.
    safe_set(version_key(website_id), value, 60)
    _versions.pop(website_id, None)
    return value


def make_key(website_id: int, *parts: object) -> str:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    return f"stats:{website_id}:{versions(website_id)}:{digest}"


def forget() -> None:
    """Drop the per-process version memo (tests)."""
    _versions.clear()


def enabled() -> bool:
    return settings.STATS_CACHE and not _bypass.get()


def closed_key(website_id: int, repairs: int, *parts: object) -> str:
    """A key for answers over closed days only: they change only with a repair, so the key
    holds the repair count instead of the versions that every refresh bumps."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    return f"stats-closed:{website_id}:{repairs}:{digest}"


def cached(key: str | Callable[[], str], compute: Callable[[], T], *, live: bool) -> T:
    """The cached answer for ``key`` (or the key ``key()`` makes), or ``compute()`` stored
    under it."""
    if not enabled():
        return compute()
    if callable(key):
        key = key()
    found = safe_get_many([key]).get(key, MISSING)
    if found is not MISSING:
        return cast(T, found)
    value = compute()
    safe_set(key, value, settings.STATS_LIVE_CACHE_SECONDS if live else LONG_SECONDS)
    return value


@contextlib.contextmanager
def bypass() -> Iterator[None]:
    """Compute everything directly (benchmarks, equivalence tests)."""
    token = _bypass.set(True)
    try:
        yield
    finally:
        _bypass.reset(token)
