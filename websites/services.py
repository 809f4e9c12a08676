"""Writes of websites: create, update and delete validate and normalise what users type.

Every write drops the process's cached tracking settings of the site
(``tracked_site_forget``) so the ingest path sees the change at once here; other
processes pick it up within the cache TTL of ``websites.selectors``.
"""

from __future__ import annotations

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
    host = host.encode("idna").decode("ascii") if host and not host.isascii() else host
    host = host.lower().removeprefix("www.")
    if not _DOMAIN.match(host):
        raise ValidationError(f"not a valid domain: {value!r}")
    return host


def validate_timezone(name: str) -> str:
    if name not in zoneinfo.available_timezones():
        raise ValidationError(f"unknown time zone: {name!r} (use an IANA name like Europe/Berlin)")
    return name


def website_create(*, owner: User, domain: str, name: str = "", timezone: str = "UTC") -> Website:
    domain = normalise_domain(domain)
    website = Website.objects.create(
        owner=owner,
        domain=domain,
        name=_name(name, domain),
        timezone=validate_timezone(timezone),
    )
    tracked_site_forget(website.tracking_id)
    return website


def website_update(
    *,
    website: Website,
    name: str | None = None,
    domain: str | None = None,
    timezone: str | None = None,
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
