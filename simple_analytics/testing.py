"""Test helpers: small factories and ``record_events`` that feeds the real write path."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterable
from typing import Any

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from tracking import pipeline
from tracking.payload import from_dict
from tracking.writer import WriteResult, write_events
from websites.models import Website
from websites.selectors import TrackedSite, tracked_site_get
from websites.services import website_create

DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
_seq = itertools.count(1)
# Addresses a test City database (``city_database``) places; iptocc places their countries.
LONDON_IP, MUNICH_IP = "81.2.69.160", "89.160.20.112"
CITIES: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": {
        "country": {"iso_code": "GB"},
        "subdivisions": [{"iso_code": "ENG"}],
        "city": {"names": {"en": "London", "de": "London"}},
    },
    "89.160.20.0/24": {
        "country": {"iso_code": "DE"},
        "subdivisions": [{"iso_code": "BY"}],
        "city": {"names": {"en": "Munich", "de": "München"}},
    },
}


def city_database(path: str, cities: dict[str, dict[str, Any]] = CITIES) -> str:
    """Write a small MaxMind-format City database of ``cities`` (network -> record) to
    ``path`` (with the mmdb-writer package: tests never download one)."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="Test-City", ipv4_compatible=True)
    for network, record in cities.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(path)
    return path


def make_user(email: str | None = None, password: str = "correct-horse-battery-9") -> User:
    email = email or f"user{next(_seq)}@example.com"
    return get_user_model().objects.create_user(username=email, email=email, password=password)


def make_website(
    owner: User | None = None, domain: str = "example.com", timezone: str = "UTC"
) -> Website:
    return website_create(owner=owner or make_user(), domain=domain, timezone=timezone)


def site_of(website: Website) -> TrackedSite:
    site = tracked_site_get(website.tracking_id)
    assert site is not None
    return site


def record_events(website: Website, events: Iterable[dict[str, Any]]) -> WriteResult:
    """Put events in through the real pipeline and writer, one commit per event.

    Each dict is an ingestion body (``site`` defaults to the website) plus ``at`` (aware
    datetime), ``ip``, ``user_agent`` and ``accept_language``.
    """
    site = site_of(website)
    total = WriteResult()
    for raw in events:
        raw = dict(raw)
        at: dt.datetime = raw.pop("at")
        ip = raw.pop("ip", "203.0.113.7")
        user_agent = raw.pop("user_agent", DESKTOP_UA)
        accept_language = raw.pop("accept_language", "")
        raw.setdefault("site", website.tracking_id)
        raw.setdefault("url", f"https://{website.domain}/")
        event = pipeline.run(
            from_dict(raw),
            site=site,
            ip=ip,
            user_agent=user_agent,
            at=at,
            accept_language=accept_language,
        )
        assert not isinstance(event, str), f"dropped: {event}"
        result = write_events([event])
        total.stored += result.stored
        total.dropped += result.dropped
        total.stored_flags += result.stored_flags
    return total


def totp_code(secret: str, *, margin: float = 5.0) -> str:
    """The code an authenticator app shows now, from a period with ``margin`` seconds left.

    The server accepts the current period only; a code read in its last second can expire
    before a slow browser submits it.
    """
    period: int = mfa_settings.TOTP_PERIOD
    left = period - time.time() % period
    if left < margin:
        time.sleep(left + 0.05)
    code: str = format_hotp_value(hotp_value(secret, int(time.time()) // period))
    return code
