"""The client IP of a request: the socket peer, or what a trusted proxy says it is."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# Every ingested event parses its peer and forwarded addresses; the same proxy and the
# same clients come again and again (the ipaddress module is pure Python).
@functools.lru_cache(maxsize=8192)
def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Sequence[Network]) -> bool:
    return any(ip in net for net in proxies)


def client_ip(remote_addr: str, forwarded_for: str, trusted_proxies: Sequence[Network]) -> str:
    """Walk ``X-Forwarded-For`` from the right while the hop is a trusted proxy.

    A client can write anything into the header; only entries appended by our own
    proxies are believed, so the first untrusted hop from the right is the client.
    """
    peer = _ip(remote_addr)
    if peer is None:
        return remote_addr
    if not forwarded_for or not trusted_proxies or not _trusted(peer, trusted_proxies):
        return str(peer)
    client = peer
    for hop in reversed(forwarded_for.split(",")):
        ip = _ip(hop)
        if ip is None:
            break
        client = ip
        if not _trusted(ip, trusted_proxies):
            break
    return str(client)
