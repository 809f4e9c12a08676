"""Fixed-window counters in the Django cache, keyed by a client's IP without storing it.

Used for the stats API's wrong-key limit and for API key creation; allauth's own limits
(login, sign-up, password reset) see the same ``client_id`` through the account adapter.
The cache is shared by every web process (file cache locally, Redis when scaled out).
A cache that fails never blocks anyone: the limit is then not applied (fail open) and a
warning is logged, because refusing every API call while Redis is down would turn a cache
outage into an API outage.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
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
    """Hits so far in the window; 0 when the cache cannot tell."""
    try:
        return int(cache.get(w.key) or 0)
    except Exception:
        log.warning("throttle: cache unavailable, not limiting (%s)", w.key.split(":")[1])
        return 0


def hit(w: Window, seconds: int) -> int:
    """Count one hit; returns the new count (0 when the cache failed)."""
    try:
        cache.add(w.key, 0, timeout=seconds + 5)
        try:
            return int(cache.incr(w.key))
        except ValueError:  # expired between add and incr
            cache.set(w.key, 1, timeout=seconds + 5)
            return 1
    except Exception:
        log.warning("throttle: cache unavailable, not counting (%s)", w.key.split(":")[1])
        return 0
