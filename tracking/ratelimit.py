"""Ingestion rate limits: events per minute from one client IP and to one website.

Fixed one-minute windows. With Redis as the cache (``REDIS_URL``, the production layout)
the counts are shared by every web process and host through Redis, but not at one round
trip per event: each process counts in memory and adds its count to Redis in batches (one
small Lua call for both keys), the batch shrinking as a counter nears its limit, down to
every event within 16 batches of it (``_batch``). A visitor's few events a minute then
cost no round trip at all, and a website's counter one per 50 events (a call per event
costs a web worker more than the event itself; docs/PERFORMANCE.md). What a process has not yet
added is at most a sixteenth of the headroom left, so with up to 16 processes sharing a
counter a limit is exceeded by at most that headroom once, when it is first reached; a
counter already over its limit is added lazily (it changes no answer until the window
ends). With any other cache each process counts in its own memory only: the embedded
default's file cache costs milliseconds per increment (``bench/ratelimit.py``),
and one host with a few processes is what it serves; a limit then holds per process. The
IP is never a key: counters are keyed by a keyed hash of it.

An event counts against the website only while its IP is within the IP limit as this
process knows it, so a flooding client never uses up its website's allowance.

On the front's event loop (``core.blocking.forbidden``) a batch due far from its limit (a
batch of more than one event) is added by a background thread and the event answered from
this process's count: that answer is what the round trip would give unless the other
processes overshot their share. Near a limit the caller hands the event to a thread instead
(``WouldBlock``), which waits for Redis's total.

Fail open: when Redis errors (down, timing out), events are accepted and the limiter stays
off for ``PAUSE_AFTER_ERROR_S`` so each request does not wait for a dead server again.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis import Redis
from redis.commands.core import Script

from core import blocking

log = logging.getLogger(__name__)

WINDOW_S = 60
# Counters outlive their window a little, so a late increment never restarts one at 1.
_TTL_S = 2 * WINDOW_S
PAUSE_AFTER_ERROR_S = 10.0

# KEYS: ip counter, website counter. ARGV: what to add to each (0: leave it), ttl.
# Returns the two totals after adding (0 for a counter left alone).
_LUA = """
local ttl = tonumber(ARGV[3])
local totals = {0, 0}
for i = 1, 2 do
  local delta = tonumber(ARGV[i])
  if delta > 0 then
    local n = redis.call('INCRBY', KEYS[i], delta)
    if n == delta then redis.call('EXPIRE', KEYS[i], ttl) end
    totals[i] = n
  end
end
return totals
"""
# Bound to no client: each call passes the backend's current one.
_SCRIPT = Script(cast(Redis, None), _LUA.encode())

_clock = time.time  # replaced by tests to pin a window
_paused_until = 0.0
_pause_lock = threading.Lock()


@functools.cache
def _ip_hash_key() -> bytes:
    # Shared by every process of the deployment (the same SECRET_KEY), unknown outside it.
    return hashlib.sha256(
        b"simple-analytics rate limit\x00" + settings.SECRET_KEY.encode()
    ).digest()


@functools.lru_cache(maxsize=16384)
def client_key(ip: str) -> str:
    """A keyed hash of the client's address (an IPv6 address: of its /64, which one
    subscriber usually holds whole). The raw IP never reaches the cache."""
    if ":" in ip:
        try:
            ip = str(ipaddress.IPv6Network(f"{ip}/64", strict=False).network_address)
        except ValueError:
            pass
    return hashlib.blake2b(ip.encode(), key=_ip_hash_key(), digest_size=8).hexdigest()


def check(ip: str, site: str, *, now: float | None = None) -> int:
    """0 when an event from ``ip`` to the website with tracking id ``site`` may go on,
    else the seconds until the current window ends (for ``Retry-After``).

    Every call counts, accepted or not, against the IP; against the website only while
    the IP is within its limit. Limits are events per minute, ``INGEST_RATE_LIMIT_IP`` and
    ``INGEST_RATE_LIMIT_WEBSITE`` (0: off). Cache errors let the event through.
    """
    ip_limit = settings.INGEST_RATE_LIMIT_IP
    site_limit = settings.INGEST_RATE_LIMIT_WEBSITE
    if not ip_limit and not site_limit:
        return 0
    now = _clock() if now is None else now
    if now < _paused_until:
        return 0
    window = int(now // WINDOW_S)
    ip_key = f"rl:ip:{window}:{client_key(ip)}"
    # Tracking ids are letters and digits; anything else is refused later as unknown.
    site_key = f"rl:site:{window}:{site if site.isascii() and site.isalnum() else '-'}"
    try:
        verdict = _count(window, ip_key, site_key, ip_limit, site_limit)
    except blocking.WouldBlock:
        raise  # not a cache failure: the caller goes on in a thread
    except Exception:
        _pause(now)
        return 0
    if not verdict:
        return 0
    if verdict == 2:
        # Logged once per window and process: it should never happen to a real site.
        _log_once(window, site)
    return max(1, math.ceil((window + 1) * WINDOW_S - now))


def _count(window: int, ip_key: str, site_key: str, ip_limit: int, site_limit: int) -> int:
    return _COUNTERS.count(window, ip_key, site_key, ip_limit, site_limit, _shared())


# [the Redis cache or None]; empty until looked up. ``caches["default"]`` costs more than
# counting an event, and one backend object serves every thread (redis-py is thread-safe).
_backend: list[RedisCache | None] = []


def _shared() -> RedisCache | None:
    if not _backend:
        backend = caches["default"]
        _backend.append(backend if isinstance(backend, RedisCache) else None)
    return _backend[0]


@receiver(setting_changed)
def _forget_backend(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        _backend.clear()


_MAX_BATCH = 50
_SHARE = 16


def _batch(limit: int, count: int) -> int:
    """How many events a process counts before it adds them to Redis: a sixteenth of the
    headroom left (every event near the limit), at most ``_MAX_BATCH``; once over the
    limit, the most (the answer cannot change until the window ends)."""
    if count > limit:
        return _MAX_BATCH
    return max(1, min(_MAX_BATCH, (limit - count) // _SHARE))


class _Counters:
    """Per-process counts of the current window, added to Redis in batches when it is
    the cache (``backend``); with any other cache they stay in this process.

    Each counter is ``[known, unsynced]``: ``known`` is a lower bound of the shared total
    (the total Redis last returned, plus what this process has added since), ``unsynced``
    what this process counted and has not added yet. Their sum decides, except for a
    counter whose batch is added by this call: then the total Redis returns decides."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counters: dict[str, list[int]] = {}

    def count(
        self,
        window: int,
        ip_key: str,
        site_key: str,
        ip_limit: int,
        site_limit: int,
        backend: RedisCache | None,
    ) -> int:
        deltas = [0, 0]
        estimates = [0, 0]
        background = False
        with self._lock:
            if window != self._window:
                if window < self._window:
                    return 0  # a request from a window already closed: let it through
                self._window, self._counters = window, {}
            counted: list[tuple[int, str, bool]] = []
            for i, (key, limit) in enumerate(((ip_key, ip_limit), (site_key, site_limit))):
                if not limit or (i == 1 and estimates[0] > ip_limit):
                    continue  # off; or the IP is over its limit: not the website's event
                known, unsynced = self._counters.get(key, (0, 0))
                estimates[i] = known + unsynced + 1
                add = backend is not None and unsynced + 1 >= _batch(limit, known)
                counted.append((i, key, add))
            if any(add for _, _, add in counted):
                # A batch due near its limit decides this event: wait for Redis (not here,
                # on a loop). Far from it, a loop hands the batch to the background.
                background = blocking.is_forbidden()
                if background and any(
                    add and _batch(ip_limit if i == 0 else site_limit, self._known(key)) <= 1
                    for i, key, add in counted
                ):
                    blocking.check()  # before anything is counted: the caller retries elsewhere
            for i, key, add in counted:
                counter = self._counters.setdefault(key, [0, 0])
                counter[1] += 1
                if add:
                    deltas[i], counter[0], counter[1] = counter[1], estimates[i], 0
        if backend is not None and (deltas[0] or deltas[1]):
            if background:
                _in_background(self._add, window, ip_key, site_key, deltas, backend)
            else:
                totals = self._add(window, ip_key, site_key, deltas, backend)
                for i in (0, 1):
                    estimates[i] = max(estimates[i], totals[i])
        if ip_limit and estimates[0] > ip_limit:
            return 1
        if site_limit and estimates[1] > site_limit:
            return 2
        return 0

    def _known(self, key: str) -> int:
        return self._counters.get(key, (0, 0))[0]

    def _add(
        self, window: int, ip_key: str, site_key: str, deltas: list[int], backend: RedisCache
    ) -> list[int]:
        """Add ``deltas`` to Redis: the totals after adding (0 for a counter left alone)."""
        keys = [backend.make_key(ip_key), backend.make_key(site_key)]
        # The script goes by its SHA (EVALSHA, loaded once per server): one round trip.
        totals = [
            int(t)
            for t in _SCRIPT(keys=keys, args=[deltas[0], deltas[1], _TTL_S], client=_redis(backend))
        ]
        with self._lock:
            if window == self._window:
                for i, key in enumerate((ip_key, site_key)):
                    synced = self._counters.get(key)
                    if deltas[i] and synced is not None and totals[i] > synced[0]:
                        synced[0] = totals[i]
        return totals

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._counters)


_COUNTERS = _Counters()

_pool: list[tuple[int, ThreadPoolExecutor]] = []  # (pid, pool): a forked worker needs its own


def _in_background(add: Any, *args: Any) -> None:
    """``add(*args)`` in this process's one background thread; a failure pauses the limiter
    as a failure in the request would."""
    if not _pool or _pool[0][0] != os.getpid():
        _pool[:] = [(os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="ratelimit"))]
    now = _clock()

    def run() -> None:
        try:
            add(*args)
        except Exception:
            _pause(now)

    _pool[0][1].submit(run)


_clients: dict[int, Redis] = {}


def _redis(backend: RedisCache) -> Redis:
    """A redis-py client on Django's connection pool for this cache (its OPTIONS, its
    connections). Django builds a new client object for every cache call, which costs
    more than the round trip itself; one per pool is enough, as redis-py clients are
    thread-safe."""
    # A private method of Django's Redis client, which its type stubs do not declare.
    pool = cast(Any, backend._cache)._get_connection_pool(write=True)
    client = _clients.get(id(pool))
    if client is None or client.connection_pool is not pool:
        client = _clients[id(pool)] = Redis(connection_pool=pool)
    return client


def _pause(now: float) -> None:
    global _paused_until
    with _pause_lock:
        if now < _paused_until:
            return
        _paused_until = now + PAUSE_AFTER_ERROR_S
    log.warning(
        "rate limiting is off for %.0f s: the cache failed (events are accepted meanwhile)",
        PAUSE_AFTER_ERROR_S,
        exc_info=True,
    )


def resume() -> None:
    """Forget a pause after a cache error (tests)."""
    global _paused_until
    with _pause_lock:
        _paused_until = 0.0


_logged: set[tuple[int, str]] = set()


def _log_once(window: int, site: str) -> None:
    if (window, site) in _logged:
        return
    if len(_logged) > 1000:
        _logged.clear()
    _logged.add((window, site))
    log.warning(
        "website %s is over INGEST_RATE_LIMIT_WEBSITE (%d events/min): answering 429",
        site,
        settings.INGEST_RATE_LIMIT_WEBSITE,
    )
