"""The all-websites page: each website's numbers summed, in its own time zone, from the
same cached bundle as its dashboard; only the user's own websites."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from stats import queries
from stats.periods import from_query

pytestmark = pytest.mark.django_db


def views(website, n, at, ua=None):
    return [
        {
            "type": "PAGE_VIEW",
            "url": f"https://{website.domain}/p{i}",
            "at": at,
            "ip": f"198.51.100.{i + 1}",
            **({"user_agent": ua} if ua else {}),
        }
        for i in range(n)
    ]


@pytest.fixture
def two_sites(owner):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    berlin = make_website(owner=owner, domain="berlin.example", timezone="Europe/Berlin")
    tokyo = make_website(owner=owner, domain="tokyo.example", timezone="Asia/Tokyo")
    record_events(berlin, views(berlin, 3, now - dt.timedelta(days=2)))
    record_events(tokyo, views(tokyo, 2, now - dt.timedelta(days=3), ua=IPHONE_UA))
    make_website(owner=make_user("other@example.com"), domain="other.example")
    return berlin, tokyo


def kpi(html: str, label: str) -> str:
    found = re.search(rf'kpi-label">{label}</span>.*?kpi-value"[^>]*>([^<]+)<', html, re.S)
    assert found, label
    return found.group(1)


def test_the_numbers_are_each_websites_summed(client, owner, two_sites):
    client.force_login(owner)
    html = client.get("/websites/all/", {"period": "7d"}).content.decode()
    berlin, tokyo = two_sites
    expected = sum(
        queries.summary(w, from_query({"period": "7d"}, w.tz)).visitors for w in two_sites
    )
    assert expected == 5
    assert kpi(html, "Unique visitors") == "5"
    assert kpi(html, "Page views") == "5"
    assert "berlin.example" in html and "tokyo.example" in html
    assert "other.example" not in html  # another user's website
    assert "counts twice" in html  # the page says visitors are summed per website
    assert f'href="/websites/{berlin.pk}/?period=7d"' in html


def test_an_unknown_period_falls_back_and_no_website_goes_to_the_list(client, owner, two_sites):
    client.force_login(owner)
    assert client.get("/websites/all/", {"period": "forever"}).status_code == 200
    client.force_login(make_user("new@example.com"))
    assert client.get("/websites/all/")["Location"] == "/websites/"


def test_anonymous_users_log_in_first(client, two_sites):
    assert client.get("/websites/all/").status_code == 302
