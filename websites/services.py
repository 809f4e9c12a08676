"""Writes of websites: create, update and delete validate and normalise what users type
(the domain, time zone, allowed hosts and exclusions).

Every write drops the process's cached tracking settings of the site
(``tracked_site_forget``) so the ingest path sees the change at once here; other
processes pick it up within the cache TTL of ``websites.selectors``.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from core.patterns import star_between_anys
from teams.models import Team
from teams.services import team_personal_get
from websites.models import Website
from websites.selectors import tracked_site_forget

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$"
)


def normalise_domain(value: str) -> str:
    """``https://www.Example.com/path`` -> ``example.com``; raises ValidationError if invalid.

    ``localhost`` and IP addresses (``127.0.0.1``, ``[::1]``, a URL on one) are domains too,
    for local testing. A port is dropped: hosts match whatever port a page is served on.
    """
    value = value.strip()
    ip = _ip_address(value)
    if ip is not None:
        return ip
    if "://" not in value:
        value = "http://" + value
    try:
        host = (urlsplit(value).hostname or "").rstrip(".")
    except ValueError:
        host = ""
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:  # an empty or overlong label, or one IDNA forbids
            host = ""
    host = host.lower().removeprefix("www.")
    if not _DOMAIN.match(host):
        raise ValidationError(f"not a valid domain: {value!r}")
    return host


def validate_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise ValidationError(f"unknown time zone: {name!r} (use an IANA name like Europe/Berlin)")
    return name


MAX_ALLOWED_HOSTNAMES = 100
_HOST_SEPARATORS = re.compile(r"[\s,]+")


def normalise_allowed_hostnames(value: str) -> str:
    """Hosts as typed (separated by lines, spaces or commas) -> normalised entries one a
    line, in order, without duplicates; raises ValidationError naming an invalid entry.

    An entry is a hostname (normalised like a domain: a URL gives its host, ``www.`` and
    IDNA as in ``normalise_domain``), ``*.example.org`` (that domain and its subdomains),
    an IP address, or ``*`` (any host). These add to the website's domain and its
    subdomains, which are always allowed (``TrackedSite.allows_host``).
    """
    entries: list[str] = []
    for raw in _HOST_SEPARATORS.split(value):
        entry = _allowed_host(raw) if raw else ""
        if entry and entry not in entries:
            entries.append(entry)
        if len(entries) > MAX_ALLOWED_HOSTNAMES:
            raise ValidationError(
                f"List at most {MAX_ALLOWED_HOSTNAMES} hosts (*.example.com covers subdomains).",
                code="too_many_hostnames",
            )
    return "\n".join(entries)


def _allowed_host(raw: str) -> str:
    if raw == "*":
        return raw
    wildcard = raw.startswith("*.")
    value = raw[2:] if wildcard else raw
    ip = None if wildcard else _ip_address(value)
    if ip is not None:
        return ip
    try:
        host = normalise_domain(value)
        if wildcard and _ip_address(host) is not None:
            raise ValidationError("an IP address has no subdomains")
    except ValidationError:
        raise ValidationError(
            f"Not a hostname: {_shown(raw)}. Enter hosts like staging.example.com, "
            "*.example.com, localhost or 127.0.0.1.",
            code="invalid_hostname",
        ) from None
    return f"*.{host}" if wildcard else host


def _ip_address(value: str) -> str | None:
    """``127.0.0.1``, ``[::1]`` or a URL on an IP address -> the address, else None."""
    candidates = [value.strip("[]")]
    try:
        candidates.append(urlsplit(value if "://" in value else "http://" + value).hostname or "")
    except ValueError:
        pass
    for candidate in candidates:
        try:
            ip = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        # A scoped IPv6 address (fe80::1%eth0) names an interface of one machine only.
        if not (isinstance(ip, ipaddress.IPv6Address) and ip.scope_id):
            return str(ip)
    return None


MAX_EXCLUDED_IPS = 100
MAX_EXCLUDED_PATHS = 100
MAX_PATH_PATTERN_CHARS = 200
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def normalise_excluded_ips(value: str) -> str:
    """Addresses and CIDR ranges as typed (separated by lines, spaces or commas) ->
    normalised entries one a line, in order, without duplicates; raises ValidationError
    naming an invalid entry.

    A range keeps its network part (``203.0.113.7/24`` -> ``203.0.113.0/24``), a single
    address is written without its prefix, and an IPv4-mapped IPv6 entry
    (``::ffff:203.0.113.7``) as the IPv4 it stands for.
    """
    raws = [raw for raw in _HOST_SEPARATORS.split(value) if raw]
    too_many = ValidationError(
        f"List at most {MAX_EXCLUDED_IPS} addresses or ranges (a range like "
        "203.0.113.0/24 covers many).",
        code="too_many_ips",
    )
    return _unique_lines(raws, _excluded_network, MAX_EXCLUDED_IPS, too_many)


def _unique_lines(
    raws: list[str], normalise: Callable[[str], str], most: int, too_many: ValidationError
) -> str:
    """Each entry normalised (which raises naming a bad one), in order, without
    duplicates, one a line; ``too_many`` past ``most`` entries."""
    entries: list[str] = []
    for raw in raws:
        entry = normalise(raw)
        if entry not in entries:
            entries.append(entry)
        if len(entries) > most:
            raise too_many
    return "\n".join(entries)


def _excluded_network(raw: str) -> str:
    try:
        network = ipaddress.ip_network(raw.strip("[]"), strict=False)
    except ValueError:
        raise ValidationError(
            f"Not an IP address or range: {_shown(raw)}. Enter addresses like 203.0.113.7 "
            "or 2001:db8::1, or ranges like 203.0.113.0/24 or 2001:db8::/48.",
            code="invalid_ip",
        ) from None
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= _IPV4_MAPPED.prefixlen
        and network.subnet_of(_IPV4_MAPPED)
    ):
        mapped = int(network.network_address) & 0xFFFFFFFF
        prefix = network.prefixlen - _IPV4_MAPPED.prefixlen
        network = ipaddress.IPv4Network((mapped, prefix))
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def normalise_excluded_paths(value: str) -> str:
    """Path patterns, one a line (or separated by spaces: a path sent by a browser has
    none) -> normalised patterns one a line, in order, without duplicates; raises
    ValidationError naming an invalid pattern.

    The syntax is that of goals' page patterns (``core.patterns``): ``*`` any characters
    but "/", ``**`` any characters, the whole path must match. Characters beyond ASCII are
    percent-encoded, as browsers send them.
    """
    too_many = ValidationError(
        f"List at most {MAX_EXCLUDED_PATHS} path patterns (/admin/** covers a whole section).",
        code="too_many_paths",
    )
    return _unique_lines(value.split(), _excluded_path, MAX_EXCLUDED_PATHS, too_many)


def _excluded_path(raw: str) -> str:
    shown = _shown(raw)
    if not raw.startswith("/"):
        raise ValidationError(
            f'A path pattern starts with "/", like /admin/**: {shown}.', code="invalid_path"
        )
    if "?" in raw or "#" in raw:
        raise ValidationError(
            f'A path pattern matches the path only: leave out the query ("?...") and '
            f'"#..." in {shown}.',
            code="invalid_path",
        )
    pattern = "".join(c if c.isascii() else quote(c, errors="replace") for c in raw)
    if len(pattern) > MAX_PATH_PATTERN_CHARS:
        raise ValidationError(
            f"A path pattern has at most {MAX_PATH_PATTERN_CHARS} characters: {shown}.",
            code="invalid_path",
        )
    if star_between_anys(pattern):
        # Matching such a pattern can take seconds per long path (``core.patterns``).
        raise ValidationError(
            f"A path pattern cannot use * between two **: {shown}.", code="invalid_path"
        )
    return pattern


def _shown(raw: str) -> str:
    return raw if len(raw) <= 80 else raw[:80] + "…"


def website_create(
    *,
    owner: User,
    domain: str,
    name: str = "",
    timezone: str = "UTC",
    allowed_hostnames: str = "",
    team: Team | None = None,
) -> Website:
    """A website added by ``owner`` to ``team`` (the owner's personal team if None); the
    caller has checked that ``owner`` may add websites to ``team``."""
    domain = normalise_domain(domain)
    website = Website.objects.create(
        team=team or team_personal_get(owner),
        owner=owner,
        domain=domain,
        name=_name(name, domain),
        timezone=validate_timezone(timezone),
        allowed_hostnames=normalise_allowed_hostnames(allowed_hostnames),
    )
    tracked_site_forget(website.tracking_id)
    return website


def website_update(
    *,
    website: Website,
    name: str | None = None,
    domain: str | None = None,
    timezone: str | None = None,
    allowed_hostnames: str | None = None,
    excluded_ips: str | None = None,
    excluded_paths: str | None = None,
) -> Website:
    """Change the given fields (None leaves a field alone); raises ValidationError.

    Everything is validated before anything changes, so a rejected update leaves
    ``website`` as it was.
    """
    values: dict[str, str] = {}
    if domain is not None:
        values["domain"] = normalise_domain(domain)
    if timezone is not None:
        values["timezone"] = validate_timezone(timezone)
    if allowed_hostnames is not None:
        values["allowed_hostnames"] = normalise_allowed_hostnames(allowed_hostnames)
    if excluded_ips is not None:
        values["excluded_ips"] = normalise_excluded_ips(excluded_ips)
    if excluded_paths is not None:
        values["excluded_paths"] = normalise_excluded_paths(excluded_paths)
    if name is not None:
        values["name"] = _name(name, values.get("domain", website.domain))
    if values:
        for field, value in values.items():
            setattr(website, field, value)
        website.save(update_fields=list(values))
        tracked_site_forget(website.tracking_id)
    return website


def website_transfer(*, website: Website, team: Team) -> Website:
    """Move the website, with all its data, goals and share links, to ``team``; the caller
    has checked the user is an owner or admin of both teams. Refused if ``team`` already
    has a website for the same domain."""
    if website.team_id == team.pk:
        raise ValidationError("The website is already in that team.", code="same_team")
    if Website.objects.filter(team=team, domain=website.domain).exists():
        raise ValidationError(
            f"The team {team.name} already has a website for {website.domain}.",
            code="duplicate",
        )
    website.team = team
    website.save(update_fields=["team"])
    return website


def website_delete(*, website: Website) -> None:
    """Delete the website and all its data: raw data and snapshot rows by the ``pre_delete``
    receivers of ``tracking`` and ``rollups`` (one statement each), the rest by cascade."""
    tracking_id = website.tracking_id
    with transaction.atomic():
        website.delete()
    tracked_site_forget(tracking_id)


def _name(name: str, domain: str) -> str:
    # A domain may be longer than a name can be (253 > 200 characters).
    return (name.strip() or domain)[: Website._meta.get_field("name").max_length]


def is_loopback_host(domain: str) -> bool:
    """Whether pixel.js skips pages on this host unless its tag has ``data-allow-localhost``
    (``localhost``, 127.0.0.0/8, ``::1``)."""
    if domain == "localhost":
        return True
    try:
        return ipaddress.ip_address(domain).is_loopback
    except ValueError:
        return False


def site_url(domain: str) -> str:
    """The home page of a website on ``domain``, as a visitor's browser would open it: plain
    http for ``localhost`` and IP addresses (local testing), https otherwise."""
    if domain == "localhost":
        return "http://localhost/"
    try:
        ip = ipaddress.ip_address(domain)
    except ValueError:
        return f"https://{domain}/"
    return f"http://[{ip}]/" if ip.version == 6 else f"http://{ip}/"


def public_base_url(request: HttpRequest) -> str:
    """This server's URL as visitors' browsers reach it: ``BASE_URL``, else the URL the
    request came in on (right for whoever opened the page, not always for visitors)."""
    configured: str = settings.BASE_URL
    return configured or request.build_absolute_uri("/").rstrip("/")


def snippet(website: Website, base_url: str) -> str:
    """The script tag to paste into the website's pages; ``base_url`` is this server's, the
    path is ``TRACKER_SCRIPT_PATH`` (validated at start: nothing in it needs escaping)."""
    # Without it pixel.js stays silent on a loopback host, the one place such a site runs.
    allow = " data-allow-localhost" if is_loopback_host(website.domain) else ""
    script_path: str = settings.TRACKER_SCRIPT_PATH
    return (
        f'<script defer src="{base_url.rstrip("/")}{script_path}" '
        f'data-site="{website.tracking_id}"{allow}></script>'
    )
