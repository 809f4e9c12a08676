from __future__ import annotations

import ipaddress
import json

import pytest
from django.test import Client, override_settings

from simple_analytics.testing import DESKTOP_UA, IPHONE_UA, make_website
from tracking import pixel
from tracking.models import DropCount, Event, Session

pytestmark = pytest.mark.django_db


def post(client: Client, body: dict | str | bytes, *, ua: str = DESKTOP_UA, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.generic(
        "POST", "/api/event", data, content_type="text/plain", HTTP_USER_AGENT=ua, **extra
    )


def test_it_stores_a_page_view_with_enrichment(client):
    website = make_website(domain="example.com")
    response = post(
        client,
        {
            "site": website.tracking_id,
            "type": "PAGE_VIEW",
            "url": "https://example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=spring#top",
            "referrer": "https://www.google.de/search?q=x",
            "screen": 390,
        },
        ua=IPHONE_UA,
    )
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == "*"
    event = Event.objects.get()
    assert (event.website_id, event.type, event.path) == (website.id, "PAGE_VIEW", "/pricing")
    session = Session.objects.get()
    assert session.entry_path == "/pricing"
    assert (session.browser, session.os, session.device) == ("Safari", "iOS", "mobile")
    assert (session.utm_source, session.utm_medium, session.utm_campaign) == (
        "news",
        "email",
        "spring",
    )
    assert session.referrer_host == "google.de"
    assert session.source == "news"  # tagged links win over the referrer
    assert session.screen == 390


def test_it_names_well_known_referrers_when_untagged(client):
    website = make_website(domain="example.com")
    post(
        client,
        {
            "site": website.tracking_id,
            "type": "PAGE_VIEW",
            "url": "https://example.com/",
            "referrer": "https://l.facebook.com/",
        },
    )
    assert Session.objects.get().source == "Facebook"


def test_it_ignores_internal_referrers(client):
    website = make_website(domain="example.com")
    post(
        client,
        {
            "site": website.tracking_id,
            "type": "PAGE_VIEW",
            "url": "https://www.example.com/b",
            "referrer": "https://www.example.com/a",
        },
    )
    session = Session.objects.get()
    assert (session.source, session.referrer_host) == ("", "")


def test_ref_and_source_are_aliases_of_utm_source(client):
    website = make_website(domain="example.com")
    post(
        client,
        {
            "site": website.tracking_id,
            "type": "PAGE_VIEW",
            "url": "https://example.com/?ref=producthunt",
        },
    )
    post(
        client,
        {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/?source=hn"},
        ua=IPHONE_UA,
    )
    assert sorted(Session.objects.values_list("utm_source", flat=True)) == ["hn", "producthunt"]


def test_cors_preflight_is_answered_for_any_origin(client):
    response = client.options(
        "/api/event",
        HTTP_ORIGIN="https://somewhere.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Content-Type" in response["Access-Control-Allow-Headers"]


@pytest.mark.parametrize(
    "ua",
    [
        "",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Datadog/Synthetics",
    ],
)
def test_bots_are_answered_2xx_not_stored_and_counted(client, ua):
    website = make_website()
    response = post(
        client,
        {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"},
        ua=ua,
    )
    assert response.status_code == 202
    assert Event.objects.count() == 0
    assert Session.objects.count() == 0
    assert DropCount.objects.get(website=website, reason="bot").count == 1


def test_body_supplied_ip_and_user_agent_are_ignored(client):
    website = make_website()
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"}
    post(client, {**body, "ip": "1.1.1.1", "user_agent": IPHONE_UA}, REMOTE_ADDR="198.51.100.1")
    post(client, {**body, "ip": "2.2.2.2", "user_agent": "curl/8"}, REMOTE_ADDR="198.51.100.1")
    session = Session.objects.get()  # same real IP and UA: one visitor, one session
    assert session.pageviews == 2
    assert session.device == "desktop"


def test_a_body_cannot_supply_the_user_agent_that_decides_bots(client):
    website = make_website()
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"}
    post(client, {**body, "user_agent": DESKTOP_UA}, ua="curl/8.5.0")
    post(client, {**body, "user_agent": "Googlebot/2.1"}, ua=IPHONE_UA)
    assert DropCount.objects.get(reason="bot").count == 1  # the curl request
    assert Session.objects.get().device == "mobile"  # the header's iPhone, not the body's bot


def _visitors_of_forwarded(client, website, remote: str, forwarded: list[str]) -> int:
    for ip in forwarded:
        url = f"https://{website.domain}/"
        body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": url}
        post(client, body, REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=ip)
    return Session.objects.filter(website=website).values("visitor_id").distinct().count()


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client):
    website = make_website()
    assert _visitors_of_forwarded(client, website, "10.0.0.2", ["1.1.1.1", "2.2.2.2"]) == 1


@override_settings(TRUSTED_PROXIES=[ipaddress.ip_network("10.0.0.0/8")])
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(client):
    website = make_website()
    # From the proxy: two forwarded clients are two visitors.
    assert _visitors_of_forwarded(client, website, "10.0.0.2", ["1.1.1.1", "2.2.2.2"]) == 2
    # From anywhere else the header is the client's own claim: one visitor, the peer.
    other = make_website(domain="other.example")
    assert _visitors_of_forwarded(client, other, "198.51.100.9", ["3.3.3.3", "4.4.4.4"]) == 1


@pytest.mark.parametrize("url", ["/pixel.js", "/pixel.full.js"])
def test_pixel_js_is_served_minified_with_cache_headers(client, url):
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == pixel.CACHE_CONTROL
    etag = response["ETag"]
    body = response.content
    assert b"data-site" in body and b"/api/event" in body and b'"EVENT"' in body
    assert b"\n  " not in body  # minified: no indentation left
    assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


@pytest.mark.parametrize("url, budget", [("/pixel.js", 1000), ("/pixel.full.js", 1500)])
def test_pixel_js_stays_within_its_gzip_budget(client, url, budget):
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, br")
    assert response["Content-Encoding"] == "gzip"
    assert len(response.content) <= budget


def test_only_the_full_build_has_the_automatic_events(client):
    default, full = client.get("/pixel.js"), client.get("/pixel.full.js")
    assert default["ETag"] != full["ETag"]
    for name in (b"data-outbound-links", b"data-file-downloads", b"data-tagged-events"):
        assert name not in default.content and name in full.content
    # Every marked block is cut out whole: an unclosed marker would leave code behind.
    stripped = pixel.source(full=False)
    assert "/* full:" in pixel.SOURCE.read_text()
    assert "/* full:" not in stripped and "/* :full */" not in stripped


def _wsgi(method: str, body: bytes, **environ):
    """Call the production WSGI entry point (the ingest fast path) directly."""
    import io
    from wsgiref.util import setup_testing_defaults

    from simple_analytics.wsgi import application

    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/api/event",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "198.51.100.4",
        "HTTP_USER_AGENT": DESKTOP_UA,
        **environ,
    }
    setup_testing_defaults(env)
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body_out = b"".join(application(env, start_response))
    return seen["status"], seen["headers"], body_out


@pytest.mark.django_db(
    transaction=True
)  # the fast path hands its connection back, as in production
def test_the_wsgi_fast_path_answers_like_the_view():
    website = make_website()
    good = json.dumps(
        {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/x"}
    )
    status, headers, body = _wsgi("POST", good.encode())
    assert (status, body) == ("202 Accepted", b"")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert Event.objects.get().path == "/x"
    status, headers, body = _wsgi("POST", b"{nope")
    assert status.startswith("400") and json.loads(body) == {"error": "body is not valid JSON"}
    assert headers["Content-Type"] == "application/json"
    status, headers, _ = _wsgi("GET", b"")
    assert status.startswith("405") and headers["Allow"] == "POST, OPTIONS"
    assert _wsgi("OPTIONS", b"")[0].startswith("204")
    assert Event.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # the fast path hands its connection back
def test_a_host_not_in_allowed_hosts_is_refused_by_both_doors(client, settings):
    settings.ALLOWED_HOSTS = ["analytics.example.com", ".stats.example.net"]
    website = make_website()
    url = f"https://{website.domain}/x"
    event = json.dumps({"site": website.tracking_id, "type": "PAGE_VIEW", "url": url}).encode()
    for host in ("evil.example", "analytics.example.com.evil.example", "bad host"):
        assert post(client, event, HTTP_HOST=host).status_code == 400  # Django's own answer
        status, headers, body = _wsgi("POST", event, HTTP_HOST=host)
        assert status == "400 Bad Request", host
        assert json.loads(body) == {"error": "invalid Host header"}
        assert headers["Access-Control-Allow-Origin"] == "*"
    assert _wsgi("OPTIONS", b"", HTTP_HOST="evil.example")[0] == "400 Bad Request"
    assert Event.objects.count() == 0
    for host in ("analytics.example.com", "analytics.example.com:8443", "a.stats.example.net"):
        assert _wsgi("POST", event, HTTP_HOST=host)[0] == "202 Accepted", host
    assert Event.objects.count() == 3
