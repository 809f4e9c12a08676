"""Writes of websites: create, update and delete validate and normalise what users type.

Every write drops the process's cached tracking settings of the site
(``tracked_site_forget``) so the ingest path sees the change at once here; other
processes pick it up within the cache TTL of ``websites.selectors``.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from websites.models import Website
from websites.selectors import tracked_site_forget

_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$"
)


def normalise_domain(value: str) -> str:
    """``https://www.Example.com/path`` -> ``example.com``; raises ValidationError if invalid."""
    value = value.strip()
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
    except ValidationError:
        shown = raw if len(raw) <= 80 else raw[:80] + "…"
        raise ValidationError(
            f"Not a hostname: {shown}. Enter hosts like staging.example.com, "
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
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def website_create(
    *,
    owner: User,
    domain: str,
    name: str = "",
    timezone: str = "UTC",
    allowed_hostnames: str = "",
) -> Website:
    domain = normalise_domain(domain)
    website = Website.objects.create(
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
    if name is not None:
        values["name"] = _name(name, values.get("domain", website.domain))
    if values:
        for field, value in values.items():
            setattr(website, field, value)
        website.save(update_fields=list(values))
        tracked_site_forget(website.tracking_id)
    return website


def website_delete(*, website: Website) -> None:
    """Delete the website and all its data (sessions, events, counters) by cascade."""
    tracking_id = website.tracking_id
    with transaction.atomic():
        website.delete()
    tracked_site_forget(tracking_id)


def _name(name: str, domain: str) -> str:
    # A domain may be longer than a name can be (253 > 200 characters).
    return (name.strip() or domain)[: Website._meta.get_field("name").max_length]


def snippet(website: Website, base_url: str) -> str:
    return (
        f'<script defer src="{base_url.rstrip("/")}/pixel.js" '
        f'data-site="{website.tracking_id}"></script>'
    )
