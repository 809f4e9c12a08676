"""Reads of websites, including the cached lookup the ingest hot path uses."""

from __future__ import annotations

import bisect
import ipaddress
import re
import threading
import time
import zoneinfo
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import F, QuerySet
from django.http import Http404

from core import blocking
from core.patterns import patterns_regex
from core.referrers import clean_host
from teams.models import Role, RoleRequired, Team, role_at_least
from websites.models import Website

# How long a process trusts its copy of a site's tracking settings. Deactivating a site
# takes effect within this time everywhere; unknown ids are re-checked sooner so a site
# added from the CLI is tracked within seconds.
_FOUND_TTL_S = 60.0
_MISSING_TTL_S = 5.0
_MAX_ENTRIES = 50_000


# What ``TrackedSite.excluded`` answers: the values of tracking's DropReason for them.
EXCLUDED_IP = "excluded_ip"
EXCLUDED_PATH = "excluded_path"

# Per IP version: the first and last address (as integers) of each excluded range, sorted
# and disjoint, so one bisection finds the range an address could be in.
_Ranges = dict[int, tuple[tuple[int, ...], tuple[int, ...]]]
_NO_RANGES: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())


@dataclass(frozen=True, slots=True)
class TrackedSite:
    """What ingestion needs of a website. ``allowed_hostnames``, ``excluded_ips`` and
    ``excluded_paths`` hold the normalised entries of the website's fields of these names
    (``websites.services``); the domain and its subdomains are always allowed."""

    id: int
    domain: str
    tz: zoneinfo.ZoneInfo
    allowed_hostnames: str = ""
    excluded_ips: str = ""
    excluded_paths: str = ""
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _suffixes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _any_host: bool = field(init=False, repr=False, compare=False)
    _loopback: bool = field(init=False, repr=False, compare=False)
    _ip_ranges: _Ranges = field(init=False, repr=False, compare=False)
    _paths: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        hosts, suffixes = {self.domain}, ["." + self.domain]
        entries = self.allowed_hostnames.split()
        for entry in entries:
            if entry.startswith("*."):
                hosts.add(entry[2:])
                suffixes.append(entry[1:])
            else:
                hosts.add(entry)
        object.__setattr__(self, "_hosts", frozenset(hosts))
        object.__setattr__(self, "_suffixes", tuple(suffixes))
        object.__setattr__(self, "_any_host", "*" in entries)
        loopback = "localhost" in hosts or any(_is_loopback(h) for h in hosts)
        object.__setattr__(self, "_loopback", loopback)
        object.__setattr__(self, "_ip_ranges", _ranges(self.excluded_ips.split()))
        paths = self.excluded_paths.split()
        object.__setattr__(self, "_paths", re.compile(patterns_regex(paths)) if paths else None)

    def allows_host(self, host: str) -> bool:
        """Whether a page on ``host`` (a URL's hostname, any case) may send events.

        ``example.com`` also allows ``www.example.com``, ``*.example.com`` the domain and
        all its subdomains, ``*`` every host; ``localhost`` or a loopback address allows
        ``localhost``, 127.0.0.0/8 and ``::1`` (pixel.js treats them alike).
        """
        if self._any_host:
            return True
        host = clean_host(host)
        if not host.isascii():
            # Browsers send hosts as punycode; a hand-made or imported URL may not.
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return False
        if host in self._hosts or host.endswith(self._suffixes):
            return True
        return self._loopback and (host == "localhost" or _is_loopback(host))

    def excluded(self, ip: str, path: str) -> str | None:
        """``EXCLUDED_IP`` if the website excludes the client address ``ip`` (an address
        in a listed range; an IPv4-mapped IPv6 address counts as its IPv4), else
        ``EXCLUDED_PATH`` if it excludes the page's ``path``, else None.

        ``ip`` may be "" or not an address (an import's line): then only the path counts.
        Without exclusions this is two attribute reads.
        """
        if self._ip_ranges and ip:
            address = _address(ip)
            if address is not None:
                starts, ends = self._ip_ranges.get(address[0], _NO_RANGES)
                i = bisect.bisect_right(starts, address[1]) - 1
                if i >= 0 and address[1] <= ends[i]:
                    return EXCLUDED_IP
        if self._paths is not None and self._paths.match(path):
            return EXCLUDED_PATH
        return None


def _ranges(entries: list[str]) -> _Ranges:
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue  # written past the services' validation: ignored, never an ingest error
        if isinstance(network, ipaddress.IPv4Network):
            v4.append(network)
        else:
            v6.append(network)
    out: _Ranges = {}
    if v4:
        out[4] = _bounds(list(ipaddress.collapse_addresses(v4)))
    if v6:
        out[6] = _bounds(list(ipaddress.collapse_addresses(v6)))
    return out


def _bounds(
    networks: list[ipaddress.IPv4Network] | list[ipaddress.IPv6Network],
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (
        tuple(int(n.network_address) for n in networks),
        tuple(int(n.broadcast_address) for n in networks),
    )


# Not cached: a cache would keep client addresses in memory, and this runs only for the
# websites that list addresses.
def _address(value: str) -> tuple[int, int] | None:
    """(IP version, the address as an integer), an IPv4-mapped IPv6 address as its IPv4;
    None if ``value`` is not an address."""
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.version, int(ip)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ``request.user``: views behind login_required pass a real user.
User = AbstractBaseUser | AnonymousUser

_cache: dict[str, tuple[float, TrackedSite | None]] = {}
_lock = threading.Lock()
# Tracking id -> set once the thread loading it is done. One thread per id queries the
# database; the others keep answering from the expired entry meanwhile, or, with no entry
# yet (a cold start), wait for it. Without this, every request thread of a worker that
# missed at the same moment borrowed a pooled connection at once (a burst of pool waits,
# and at a cold start under load: 503s).
_loading: dict[str, threading.Event] = {}
_LOAD_WAIT_S = 5.0


def tracked_site_get(tracking_id: str, *, now: float | None = None) -> TrackedSite | None:
    """The active website with this tracking id, from a per-process TTL cache.

    The hot path calls this for every event: at most one query per id per minute, by one
    thread at a time.
    """
    now = time.monotonic() if now is None else now
    hit = _cache.get(tracking_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    with _lock:
        loaded = _loading.get(tracking_id)
        loader = loaded is None
        if loader or hit is None:
            blocking.check()  # this caller would query or wait: not on an event loop
        if loader:
            loaded = _loading[tracking_id] = threading.Event()
    assert loaded is not None
    if not loader:
        if hit is not None:
            return hit[1]  # expired: still right for the moment another thread reloads it
        loaded.wait(_LOAD_WAIT_S)
        hit = _cache.get(tracking_id)
        if hit is not None:
            return hit[1]
        # The loader failed (the database is unreachable): try, and fail, on our own.
    try:
        row = (
            Website.objects.filter(tracking_id=tracking_id, is_active=True)
            .values_list(
                "id", "domain", "timezone", "allowed_hostnames", "excluded_ips", "excluded_paths"
            )
            .first()
        )
        site = (
            TrackedSite(row[0], row[1].lower(), zoneinfo.ZoneInfo(row[2]), *row[3:])
            if row
            else None
        )
        with _lock:
            if len(_cache) >= _MAX_ENTRIES:
                _cache.clear()
            _cache[tracking_id] = (now + (_FOUND_TTL_S if site else _MISSING_TTL_S), site)
    finally:
        if loader:
            with _lock:
                _loading.pop(tracking_id, None)
            loaded.set()
    return site


def tracked_site_forget(tracking_id: str | None = None) -> None:
    """Drop this process's cached copy (all of them without an id); used by tests and services."""
    with _lock:
        if tracking_id is None:
            _cache.clear()
        else:
            _cache.pop(tracking_id, None)


def _with_role(websites: QuerySet[Website], user: User) -> QuerySet[Website]:
    """``websites`` in the user's teams, each with the user's role in it."""
    if user.pk is None:
        return websites.none()
    return (
        websites.filter(team__memberships__user_id=user.pk)
        .select_related("team")
        .annotate(member_role=F("team__memberships__role"))
    )


def _role_set(website: Website) -> Website:
    website.role = getattr(website, "member_role", "")
    return website


def website_get_for_user(user: User, website_id: int, need: str = Role.VIEWER) -> Website | None:
    """The website with this id if the user is in its team with at least the role
    ``need`` (a ``teams.models.Role``); None for anyone else and for an unknown id.
    The website's ``role`` is the user's."""
    if user.pk is None:
        return None
    website = _with_role(Website.objects.filter(id=website_id), user).first()
    if website is None or not role_at_least(_role_set(website).role, need):
        return None
    return website


def website_get_for_user_or_404(user: User, website_id: int, need: str = Role.VIEWER) -> Website:
    """The website with this id for a member of its team with at least the role ``need``.

    ``Http404`` for anyone outside the team, exactly like an id that does not exist;
    ``PermissionDenied`` (a 403) for a member whose role is below ``need``.
    """
    website = website_get_for_user(user, website_id)
    if website is None:
        raise Http404("No such website")
    if not role_at_least(website.role, need):
        raise RoleRequired(need)
    return website


def website_get_by_tracking_id_for_user(user: User, tracking_id: str) -> Website | None:
    """The website with this tracking id if the user is in its team (any role; check
    ``website.role`` for more); None otherwise."""
    if user.pk is None:
        return None
    website = _with_role(Website.objects.filter(tracking_id=tracking_id), user).first()
    return _role_set(website) if website is not None else None


def website_list_for_user(user: User, team: Team | None = None) -> list[Website]:
    """The websites of the user's teams (of ``team`` only, if given), by name, each with
    the user's ``role``."""
    websites = _with_role(Website.objects.all(), user)
    if team is not None:
        websites = websites.filter(team=team)
    return [_role_set(w) for w in websites.order_by("name", "id")]
