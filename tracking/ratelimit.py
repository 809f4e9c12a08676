"""Ingestion rate limits: events per minute from one client IP and to one website.

Fixed one-minute windows. With Redis as the cache (``REDIS_URL``, the production layout)
the counters live there, shared by every web process and host, at one round trip per
request: a small Lua script increments the IP's counter and, only while that is within its
limit, the website's (so a flooding client never uses up its website's allowance). With
any other cache each process counts in its own memory: the embedded default's file cache
costs milliseconds per increment (measured in ``bench/ratelimit.py``), and one host with a
few processes is what it serves; a limit then holds per process. The IP is never a key:
counters are keyed by a keyed hash of it.

Fail open: when Redis errors (down, timing out), events are accepted and the limiter stays
off for ``PAUSE_AFTER_ERROR_S`` so each request does not wait for a dead server again.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis import Redis
from redis.commands.core import Script

log = logging.getLogger(__name__)

WINDOW_S = 60
# Counters outlive their window a little, so a late increment never restarts one at 1.
_TTL_S = 2 * WINDOW_S
PAUSE_AFTER_ERROR_S = 10.0

# KEYS: ip counter, website counter. ARGV: ip limit, website limit, ttl (0 = no limit).
# Returns 0 (allowed), 1 (over the IP limit) or 2 (over the website limit).
_LUA = """
local ip_limit, site_limit, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ip_limit > 0 then
  local n = redis.call('INCR', KEYS[1])
  if n == 1 then redis.call('EXPIRE', KEYS[1], ttl) end
  if n > ip_limit then return 1 end
end
if site_limit > 0 then
  local n = redis.call('INCR', KEYS[2])
  if n == 1 then redis.call('EXPIRE', KEYS[2], ttl) end
  if n > site_limit then return 2 end
end
return 0
"""
# Bound to no client: each call passes the backend's current one.
_SCRIPT = Script(None, _LUA.encode())  # type: ignore[arg-type]

_clock = time.time  # replaced by tests to pin a window
_paused_until = 0.0
_pause_lock = threading.Lock()


@functools.cache
def _ip_hash_key() -> bytes:
    # Shared by every process of the deployment (the same SECRET_KEY), unknown outside it.
    return hashlib.sha256(
        b"simple-analytics rate limit\x00" + settings.SECRET_KEY.encode()
    ).digest()


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
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        keys = [backend.make_key(ip_key), backend.make_key(site_key)]
        # The script goes by its SHA (EVALSHA, loaded once per server): one round trip.
        return int(_SCRIPT(keys=keys, args=[ip_limit, site_limit, _TTL_S], client=_redis(backend)))
    return _LOCAL.count(window, ip_key, site_key, ip_limit, site_limit)


_clients: dict[int, Redis] = {}


def _redis(backend: RedisCache) -> Redis:
    """A redis-py client on Django's connection pool for this cache (its OPTIONS, its
    connections). Django builds a new client object for every cache call, which costs
    more than the round trip itself (measured: ~0.4 ms of CPU); one per pool is enough,
    as redis-py clients are thread-safe."""
    pool = backend._cache._get_connection_pool(write=True)
    client = _clients.get(id(pool))
    if client is None or client.connection_pool is not pool:
        client = _clients[id(pool)] = Redis(connection_pool=pool)
    return client


class _LocalCounters:
    """Fixed-window counters in this process's memory, for caches other than Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def count(self, window: int, ip_key: str, site_key: str, ip_limit: int, site_limit: int) -> int:
        with self._lock:
            if window != self._window:
                if window < self._window:
                    return 0  # a request from a window already closed: let it through
                self._window, self._counts = window, {}
            counts = self._counts
            if ip_limit:
                n = counts[ip_key] = counts.get(ip_key, 0) + 1
                if n > ip_limit:
                    return 1
            if site_limit:
                n = counts[site_key] = counts.get(site_key, 0) + 1
                if n > site_limit:
                    return 2
            return 0

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._counts)


_LOCAL = _LocalCounters()


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
