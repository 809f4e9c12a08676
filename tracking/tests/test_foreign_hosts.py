"""Events from pages on hosts the website does not allow (its domain and subdomains, plus
the hosts listed in its settings) are answered 202, not stored, and counted as
``foreign_host``: at ``/api/event``, in imports, and from the real pixel.js in Chromium."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from simple_analytics.testing import DESKTOP_UA, make_website, site_of
from tracking import pipeline
from tracking.importer import import_lines
from tracking.models import DropCount, DropReason, Event, Session
from tracking.payload import from_dict
from websites.services import website_update

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def post(client, website, url: str, type_: str = "PAGE_VIEW", **headers: str):
    body = {"site": website.tracking_id, "type": type_, "url": url}
    return client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        **headers,
    )


def drops(website) -> dict[str, int]:
    return dict(DropCount.objects.filter(website=website).values_list("reason", "count"))


def stored(website) -> int:
    return Event.objects.filter(website=website).count()


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "http://EXAMPLE.com:8080/a?b=c",
        "https://www.example.com/",
        "https://shop.example.com/cart",
        "https://a.b.example.com./x",
    ],
)
def test_an_event_from_the_domain_or_a_subdomain_is_stored(client, url):
    website = make_website(domain="example.com")
    assert post(client, website, url).status_code == 202
    assert stored(website) == 1
    assert drops(website) == {}


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/",
        "https://example.com.evil.example/",  # the domain as a prefix
        "https://notexample.com/",  # the domain as a suffix, not a subdomain
        "https://example.co/",
        "http://localhost:8000/",  # development hosts too, until listed
        "http://127.0.0.1:8000/",
        "https://example-com.translate.goog/",  # a proxy showing the page
    ],
)
def test_an_event_from_another_host_is_answered_202_not_stored_and_counted(client, url):
    website = make_website(domain="example.com")
    response = post(client, website, url)
    assert response.status_code == 202
    assert response.content == b""  # the same answer as a stored event: nothing to learn
    assert (Event.objects.count(), Session.objects.count()) == (0, 0)
    assert drops(website) == {"foreign_host": 1}


def test_hosts_listed_in_the_settings_are_stored_and_others_still_dropped(client):
    website = make_website(domain="example.com")
    website_update(website=website, allowed_hostnames="staging.example.net\n*.example.org")
    kept = [
        "https://staging.example.net/",
        "https://example.org/",
        "https://www.shop.example.org/",
        "https://example.com/",  # the domain stays allowed
    ]
    dropped = ["https://example.net/", "https://other.staging.example.net/", "http://localhost/"]
    for url in kept + dropped:
        assert post(client, website, url).status_code == 202, url
    assert stored(website) == len(kept)
    assert drops(website) == {"foreign_host": len(dropped)}


def test_a_change_of_the_list_applies_to_the_next_event(client):
    website = make_website(domain="example.com")
    post(client, website, "https://staging.example.net/")
    website_update(website=website, allowed_hostnames="staging.example.net")
    post(client, website, "https://staging.example.net/")
    website_update(website=website, allowed_hostnames="")
    post(client, website, "https://staging.example.net/")
    assert stored(website) == 1
    assert drops(website) == {"foreign_host": 2}


@pytest.mark.parametrize(
    "url", ["http://localhost:3000/", "http://127.0.0.1:3000/", "http://[::1]:3000/"]
)
@pytest.mark.parametrize("domain, listed", [("localhost", ""), ("example.com", "localhost")])
def test_a_site_that_allows_localhost_gets_what_pixel_js_sends_from_it(client, domain, listed, url):
    website = make_website(domain=domain)
    website_update(website=website, allowed_hostnames=listed)
    assert post(client, website, url).status_code == 202
    assert stored(website) == 1


def test_a_star_lets_any_host_send(client):
    website = make_website(domain="example.com")
    website_update(website=website, allowed_hostnames="*")
    post(client, website, "https://anything.example/")
    assert stored(website) == 1


def test_an_exit_from_a_foreign_page_is_a_foreign_host_drop_too(client):
    website = make_website(domain="example.com")
    post(client, website, "https://example.com/")
    post(client, website, "https://evil.example/", "PAGE_EXIT")
    assert stored(website) == 1
    assert drops(website) == {"foreign_host": 1}


# --- the Origin header -------------------------------------------------------------------


def run(website, url: str, origin: str) -> pipeline.IncomingEvent | DropReason:
    payload = from_dict({"site": website.tracking_id, "type": "PAGE_VIEW", "url": url})
    return pipeline.run(
        payload,
        site=site_of(website),
        ip="198.51.100.7",
        user_agent=DESKTOP_UA,
        at=T0,
        origin=origin,
    )


@pytest.mark.parametrize(
    "origin, kept",
    [
        ("", True),  # no header: not a browser (or an import), the url decides
        ("null", True),  # a sandboxed frame or a no-referrer beacon: names no host
        ("https://example.com", True),
        ("https://www.example.com:8443", True),
        ("https://shop.example.com", True),
        ("https://evil.example", False),  # a page elsewhere reporting our url
        ("not an origin", False),
        ("https://[::1", False),
    ],
)
def test_a_browsers_origin_must_name_an_allowed_host_too(origin, kept):
    website = make_website(domain="example.com")
    event = run(website, "https://example.com/", origin)
    assert (event == DropReason.FOREIGN_HOST) is not kept
    assert isinstance(event, pipeline.IncomingEvent) is kept


def test_an_allowed_origin_does_not_excuse_a_foreign_url():
    website = make_website(domain="example.com")
    assert run(website, "https://evil.example/", "https://example.com") == "foreign_host"


# --- imports -------------------------------------------------------------------------------


def test_import_applies_the_same_rule():
    website = make_website(domain="example.com")

    def line(url: str, minute: int) -> str:
        at = T0 + dt.timedelta(minutes=minute)
        return json.dumps(
            {
                "site": website.tracking_id,
                "type": "PAGE_VIEW",
                "url": url,
                "ts": at.isoformat(),
                "ip": "198.51.100.7",
                "user_agent": DESKTOP_UA,
            }
        )

    report = import_lines(
        [line("https://example.com/", 0), line("https://evil.example/", 1)],
    )
    assert (report.stored, dict(report.dropped), report.errors) == (1, {"foreign_host": 1}, [])
    assert list(DropCount.objects.values_list("day", "reason", "count")) == [
        (T0.date(), "foreign_host", 1)
    ]


# --- the real pixel.js ------------------------------------------------------------------------


@pytest.fixture
def context(browser) -> Iterator[Any]:
    from tracking.tests import browser_urls

    browser_urls.SINK.clear()
    browser_urls.COLLECTED.clear()
    browser_urls.BODIES.clear()
    ctx = browser.new_context(user_agent=DESKTOP_UA)
    yield ctx
    ctx.close()
    browser_urls.PAGE["snippet"] = ""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tracking.tests.browser_urls")
@pytest.mark.parametrize("listed", ["", "localhost"])
def test_pixel_js_on_a_development_host_counts_only_where_the_site_allows_it(
    live_server, context, listed
):
    from django.contrib.auth import get_user_model

    from simple_analytics.tests.browser import wait_for
    from tracking.tests import browser_urls

    owner = get_user_model().objects.create(username="owner@example.com")
    website = make_website(owner=owner, domain="example.com")
    website_update(website=website, allowed_hostnames=listed)
    browser_urls.PAGE["snippet"] = (
        f'<script defer src="{live_server.url}/pixel.js" data-site="{website.tracking_id}" '
        "data-allow-localhost></script>"
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/landing")  # http://localhost:<port>/landing
    wait_for(lambda: browser_urls.COLLECTED == [("PAGE_VIEW", 202)], "the page view's answer")
    page.close(run_before_unload=True)  # the exit goes out as a beacon
    both = [("PAGE_VIEW", 202), ("PAGE_EXIT", 202)]
    wait_for(lambda: browser_urls.COLLECTED == both, "the exit's answer")
    assert stored(website) == (2 if listed else 0)
    assert drops(website) == ({} if listed else {"foreign_host": 2})


@pytest.mark.parametrize(
    "origin, stored_n", [("https://www.example.com", 1), ("null", 1), ("https://evil.example", 0)]
)
def test_the_endpoint_checks_the_origin_header(client, origin, stored_n):
    website = make_website(domain="example.com")
    assert post(client, website, "https://example.com/", HTTP_ORIGIN=origin).status_code == 202
    assert stored(website) == stored_n
    assert drops(website) == ({} if stored_n else {"foreign_host": 1})


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_fast_path_checks_the_origin_header_too():
    from tracking.tests.test_collect import _wsgi

    website = make_website(domain="example.com")
    data = json.dumps(
        {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"}
    ).encode()
    status, _, out = _wsgi("POST", data, HTTP_ORIGIN="https://evil.example")
    assert (status, out) == ("202 Accepted", b"")
    assert stored(website) == 0
    assert drops(website) == {"foreign_host": 1}
