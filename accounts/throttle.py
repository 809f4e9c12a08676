"""Fixed-window counters in the Django cache, keyed by a client's IP without storing it.

Used for the stats API's wrong-key limit and for API key creation; allauth's own limits
(login, sign-up, password reset) see the same ``client_id`` through the account adapter.
The cache is shared by every web process (file cache locally, Redis when scaled out).
Counting is atomic and a limit decides on the count its own ``hit`` returned, so requests
that race all see different counts (``_ATOMIC_BACKENDS``; the file cache takes a lock);
``reserve`` bounds work whose cost is known only after it is done (a key lookup).
A cache that fails never blocks anyone: the limit is then not applied (fail open) and a
warning is logged, because refusing every API call while Redis is down would turn a cache
outage into an API outage.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import ipaddress
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.memcached import BaseMemcachedCache
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

from core.net import client_ip

log = logging.getLogger(__name__)

# allauth groups IPv6 clients by /64 too (one host usually owns a whole /64).
IPV6_PREFIX = 64


def client_id(request: HttpRequest) -> str:
    """A keyed hash of the client's IP (an IPv6 client: its /64), stable per SECRET_KEY.

    The IP is the one ingestion uses: ``X-Forwarded-For`` counts only from
    ``TRUSTED_PROXIES``. Caches hold this, never the address itself.
    """
    ip = client_ip(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.TRUSTED_PROXIES,
    )
    try:
        addr = ipaddress.ip_address(ip)
        if addr.version == 6:
            ip = str(ipaddress.ip_network(f"{addr}/{IPV6_PREFIX}", strict=False).network_address)
    except ValueError:
        pass  # not an address (a test client, a unix socket): hashed as it is
    digest = hmac.new(settings.SECRET_KEY.encode(), ip.encode(), hashlib.sha256).hexdigest()
    return "c" + digest[:32]


@dataclass(frozen=True)
class Window:
    key: str
    retry_after: int  # whole seconds until the window closes (at least 1)


def window(name: str, ident: str, seconds: int, *, now: float | None = None) -> Window:
    now = time.time() if now is None else now
    number = int(now // seconds)
    retry_after = max(1, int((number + 1) * seconds - now + 0.999))
    return Window(f"throttle:{name}:{ident}:{number}", retry_after)


def count(w: Window) -> int:
    """Hits so far in the window; 0 when the cache cannot tell. A limit that guards work
    done after the check decides on ``hit`` or ``reserve`` instead: a read races."""
    try:
        return int(cache.get(w.key) or 0)
    except Exception:
        log.warning("throttle: cache unavailable, not limiting (%s)", w.key.split(":")[1])
        return 0


def hit(w: Window, seconds: int) -> int:
    """Count one hit and return the new count, atomically: of any number of concurrent
    calls, each sees a different count. 0 when the cache failed (fail open)."""
    try:
        backend = caches["default"]
        if isinstance(backend, _ATOMIC_BACKENDS):
            return _atomic_hit(backend, w.key, seconds + 5)
        with _serialised():
            value = int(backend.get(w.key) or 0) + 1
            backend.set(w.key, value, timeout=seconds + 5)
            return value
    except Exception:
        log.warning("throttle: cache unavailable, not counting (%s)", w.key.split(":")[1])
        return 0


def release(w: Window) -> None:
    """Take back one hit, atomically."""
    try:
        backend = caches["default"]
        if isinstance(backend, _ATOMIC_BACKENDS):
            try:
                backend.decr(w.key)
            except ValueError:  # the window's key is gone: nothing left to take back
                pass
            return
        with _serialised():
            value = backend.get(w.key)
            if value:
                backend.set(w.key, int(value) - 1, timeout=w.retry_after + 5)
    except Exception:
        log.warning("throttle: cache unavailable, not counting (%s)", w.key.split(":")[1])


# How long ``reserve`` waits for places held by work that may not count.
RESERVE_WAIT_S = 2.0


def reserve(w: Window, limit: int, seconds: int) -> bool:
    """Take one of the window's ``limit`` places before work that counts only if it fails
    (looking up a key that may be wrong); False once ``limit`` failures were counted.

    After True, call ``confirm`` (it failed: the place stays taken) or ``release`` (it did
    not). Places held and failures share one atomic counter, so racing callers never start
    more than ``limit`` pieces of work that could all fail. A caller that finds every place
    held by work still running waits for one (at most ``RESERVE_WAIT_S``) rather than
    being refused at once: work that does not fail (a good key) delays, never refuses,
    unless places stay held for that long.
    """
    deadline = time.monotonic() + RESERVE_WAIT_S
    pause = 0.0
    while not reached(w, limit):
        # After a first try, read first: while every place is held, waiters write nothing.
        if not pause or count(w) < limit:
            if hit(w, seconds) <= limit:
                return True
            release(w)
        pause = min(0.05, pause * 2 or 0.002)
        if time.monotonic() + pause >= deadline:
            return False
        # Random and growing, so waiting callers do not retry in step.
        time.sleep(pause * random.uniform(0.5, 1.5))
    return False


def confirm(w: Window, seconds: int) -> None:
    """The work of a ``reserve`` failed: its place stays taken, and counts as a failure."""
    hit(_failures(w), seconds)


def reached(w: Window, limit: int) -> bool:
    """Whether ``limit`` failures were confirmed in the window (a read, for callers that do
    no work worth a place, such as a request without a key)."""
    return count(_failures(w)) >= limit


def _failures(w: Window) -> Window:
    return Window(w.key + ":failed", w.retry_after)


# Backends whose add and incr are atomic: Redis (SET NX, INCRBY), memcached, and the
# in-process memory cache (one lock). Django's file and database caches read, then write.
_ATOMIC_BACKENDS = (RedisCache, BaseMemcachedCache, LocMemCache)
_thread_lock = threading.Lock()


def _atomic_hit(backend: BaseCache, key: str, timeout: int) -> int:
    for _ in range(3):
        try:
            return int(backend.incr(key))
        except ValueError:  # the window's first hit (or its key was evicted)
            pass
        if backend.add(key, 1, timeout=timeout):
            return 1
    raise RuntimeError("throttle counter vanishes as it is counted")


@contextmanager
def _serialised() -> Iterator[None]:
    """One read-modify-write of a counter at a time: among this process's threads, and
    among the processes of this host (those sharing ``DATA_DIR``, as the file cache does)."""
    with _thread_lock:
        fd = os.open(settings.DATA_DIR / "throttle.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # A lock on this open file, not on the process: each call opens its own.
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # also drops the lock
