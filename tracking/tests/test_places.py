"""Where a visit comes from: country (embedded data), region and city (an owner's City
database), language (Accept-Language) and screen size class, set once per session from the
request that started it. Nothing of the address or the header is stored."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.db import connection

from core.geo import GeoDatabaseError, Locator, Place
from simple_analytics.testing import (
    DESKTOP_UA,
    LONDON_IP,
    MUNICH_IP,
    city_database,
    make_website,
)
from tracking.importer import import_lines
from tracking.models import Session
from tracking.pipeline import primary_language, screen_size

pytestmark = pytest.mark.django_db


@pytest.fixture
def city_db(tmp_path) -> str:
    return city_database(str(tmp_path / "city.mmdb"))


def test_the_country_comes_from_embedded_data_without_any_set_up():
    locate = Locator().locate
    assert locate("8.8.8.8") == Place("US")
    assert locate(MUNICH_IP).country == "SE"  # its allocation, not the test City database
    assert locate("::ffff:8.8.8.8") == Place("US")  # IPv4 on a dual-stack socket
    for unplaced in ("10.1.2.3", "127.0.0.1", "2001:db8::1", "", "not an address"):
        assert locate(unplaced) == Place()


def test_a_city_database_adds_region_and_city_and_falls_back_to_the_country(city_db):
    locate = Locator(city_db).locate
    assert locate(LONDON_IP) == Place("GB", "GB-ENG", "London")
    assert locate(MUNICH_IP) == Place("DE", "DE-BY", "Munich")
    assert locate("::ffff:" + MUNICH_IP) == Place("DE", "DE-BY", "Munich")
    assert locate("8.8.8.8") == Place("US")  # not in the file: the embedded country
    assert locate("not an address") == Place()


def test_a_missing_or_corrupt_database_is_one_clear_error(tmp_path):
    with pytest.raises(GeoDatabaseError, match="no file"):
        Locator(str(tmp_path / "missing.mmdb"))
    corrupt = tmp_path / "corrupt.mmdb"
    corrupt.write_bytes(b"not a MaxMind database" * 100)
    with pytest.raises(GeoDatabaseError, match="not a MaxMind-format database"):
        Locator(str(corrupt))


def test_the_server_refuses_to_start_with_a_bad_database(tmp_path):
    env = {"GEOIP_DATABASE": str(tmp_path / "missing.mmdb"), "DATA_DIR": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**_clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert f"GEOIP_DATABASE: no file {tmp_path / 'missing.mmdb'}" in run.stderr
    assert "Traceback" not in run.stderr.split("ImproperlyConfigured")[-1]


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-US", "en"),
        ("fr;q=0.5, pt-BR;q=0.9", "pt"),
        ("*", ""),
        ("*;q=1, es", "es"),
        ("", ""),
        ("x-klingon, 12, de;q=abc, zh-Hant-TW;q=0.3", "zh"),
        ("EN", "en"),
    ],
)
def test_the_primary_language_is_the_most_preferred_ranges_first_subtag(header, language):
    assert primary_language(header) == language


@pytest.mark.parametrize(
    ("width", "size"),
    [
        (None, ""),
        (320, "mobile"),
        (575, "mobile"),
        (576, "tablet"),
        (991, "tablet"),
        (992, "laptop"),
        (1439, "laptop"),
        (1440, "desktop"),
        (3840, "desktop"),
    ],
)
def test_screen_widths_fall_into_four_classes(width, size):
    assert screen_size(width) == size


def test_a_beacon_is_placed_and_only_the_codes_are_stored(client, settings, city_db):
    settings.GEOIP_DATABASE = city_db
    website = make_website()
    body = {
        "site": website.tracking_id,
        "type": "PAGE_VIEW",
        "url": "https://example.com/?utm_content=hero&utm_term=running+shoes",
        "screen": 390,
    }
    response = client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9",
        REMOTE_ADDR=LONDON_IP,
    )
    assert response.status_code == 202
    session = Session.objects.get(website=website)
    assert (session.country, session.region, session.city) == ("GB", "GB-ENG", "London")
    assert (session.language, session.screen_size) == ("en", "mobile")
    assert (session.utm_content, session.utm_term) == ("hero", "running shoes")
    with connection.cursor() as cur:
        cur.execute("SELECT * FROM tracking_session")
        row = " ".join(str(v) for v in cur.fetchone())
    assert LONDON_IP not in row and "en-GB" not in row


def test_imported_lines_are_placed_too(settings, city_db):
    settings.GEOIP_DATABASE = city_db
    website = make_website()
    line = {
        "site": website.tracking_id,
        "type": "PAGE_VIEW",
        "url": "https://example.com/",
        "ts": "2026-03-10T12:00:00Z",
        "ip": MUNICH_IP,
        "user_agent": DESKTOP_UA,
        "accept_language": "de-AT",
    }
    report = import_lines([json.dumps(line), json.dumps({**line, "accept_language": 3})])
    assert report.stored == 1
    assert "accept_language must be" in str(report.errors)
    session = Session.objects.get(website=website)
    assert (session.country, session.city, session.language) == ("DE", "Munich", "de")
