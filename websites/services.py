"""Writes of websites: ``website_create`` validates and normalises what users type."""

from __future__ import annotations

import re
import zoneinfo
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

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
    host = host.encode("idna").decode("ascii") if host and not host.isascii() else host
    host = host.lower().removeprefix("www.")
    if not _DOMAIN.match(host):
        raise ValidationError(f"not a valid domain: {value!r}")
    return host


def validate_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise ValidationError(f"unknown time zone: {name!r} (use an IANA name like Europe/Berlin)")
    return name


def website_create(*, owner, domain: str, name: str = "", timezone: str = "UTC") -> Website:  # type: ignore[no-untyped-def]
    domain = normalise_domain(domain)
    website = Website.objects.create(
        owner=owner,
        domain=domain,
        name=name.strip() or domain,
        timezone=validate_timezone(timezone),
    )
    tracked_site_forget(website.tracking_id)
    return website


def snippet(website: Website, base_url: str) -> str:
    return (
        f'<script defer src="{base_url.rstrip("/")}/pixel.js" '
        f'data-site="{website.tracking_id}"></script>'
    )
