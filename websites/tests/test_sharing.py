"""Share links: the owner's page (create, list, revoke), the services, and the public
read-only dashboard at ``/share/<token>/``: the same numbers as the owner's, every link under
the share URL, nothing of settings, segments, the snippet or other websites; ``noindex``,
no referrer, the password flow, rate limits, ``frame-ancestors``, revoked and foreign links.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from simple_analytics.tests.test_authorization import BAD_LIMITS, BAD_QUERIES, ODD_QUERIES
from websites.models import ShareLink
from websites.sharing import (
    hash_token,
    normalise_embed_hosts,
    share_link_create,
    share_link_get_by_token,
    share_link_list,
    share_link_revoke,
    share_link_token,
)

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}
PASSWORD = "open-sesame-42"


def ev(type_, path, at, **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, **extra}


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()


@pytest.fixture
def owner():
    return make_user("owner@example.com")


@pytest.fixture
def website(owner):
    site = make_website(owner=owner, domain="example.com")
    record_events(
        site,
        [
            ev("PAGE_VIEW", "/", D, referrer="https://www.google.com/"),
            ev("PATH_CHANGE", "/owner-only-9f", D + dt.timedelta(seconds=60)),
            ev("PAGE_VIEW", "/", D, ip="198.51.100.2", user_agent=IPHONE_UA),
        ],
    )
    return site


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


def share_url(token, name="share", *args):
    return reverse(f"dashboard:{name}", args=[token, *args])


class Links(HTMLParser):
    """Every href, form action and data-*-url of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name in ("href", "action") or name.endswith("-url")):
                self.urls.append(value)


def page_links(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    return parser.urls


# --- services ---------------------------------------------------------------------------


def test_create_list_revoke(website):
    created = share_link_create(website=website, label="  Client  ", embed_hosts="a.example")
    link = created.link
    assert link.label == "Client" and link.hosts == ["a.example"] and not link.password
    # Only the hash is looked up; the token comes back from the nonce and the secret key.
    assert link.token_hash == hash_token(created.token) and created.token not in link.nonce
    assert share_link_token(link) == created.token
    assert share_link_get_by_token(created.token) == link
    assert list(share_link_list(website=website)) == [link]
    share_link_revoke(link=link)
    assert share_link_get_by_token(created.token) is None
    assert list(share_link_list(website=website)) == []


def test_the_token_needs_the_secret_key_and_survives_its_rotation(website, settings):
    created = share_link_create(website=website, label="x")
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert share_link_token(created.link) is None  # the URL cannot be shown again ...
    assert share_link_get_by_token(created.token) == created.link  # ... and still opens
    settings.SECRET_KEY_FALLBACKS = [old]
    assert share_link_token(created.link) == created.token


def test_a_password_is_stored_hashed(website):
    link = share_link_create(website=website, label="x", password=PASSWORD).link
    assert link.password.startswith(("pbkdf2_", "argon2", "bcrypt", "scrypt", "md5"))
    assert PASSWORD not in link.password


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("blog.example.com", "blog.example.com"),
        ("HTTPS://*.Example.com/", "https://*.example.com"),
        ("http://localhost:8080, localhost:8080", "http://localhost:8080\nlocalhost:8080"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("a.example a.example", "a.example"),
    ],
)
def test_embed_hosts_are_csp_sources(typed, stored):
    assert normalise_embed_hosts(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "*",
        "'self'",
        "example.com; script-src *",
        "https://example.com/path",
        "javascript:alert(1)",
        "data:",
        "example.com:99999",
        "ex ample.com;",
    ],
)
def test_embed_hosts_refuse_anything_but_a_host(typed):
    with pytest.raises(ValidationError):
        normalise_embed_hosts(typed)


# --- the owner's page ---------------------------------------------------------------------


def test_owner_creates_copies_and_revokes_a_link(owner_client, website):
    page = reverse("websites:sharing", args=[website.pk])
    response = owner_client.post(
        page, {"label": "Client Acme", "password": "", "embed_hosts": "blog.example.com"}
    )
    assert response.status_code == 302 and response["Location"] == page
    link = ShareLink.objects.get(website=website)
    token = share_link_token(link)
    html = owner_client.get(page).content.decode()
    assert f"http://testserver/share/{token}/" in html
    assert "&lt;iframe src=&quot;http://testserver/share/" in html  # shown, not rendered
    assert "<iframe" not in html
    assert "may be embedded on blog.example.com" in html
    # Reachable from the website's pages.
    settings_page = owner_client.get(reverse("websites:edit", args=[website.pk])).content
    assert page.encode() in settings_page

    response = owner_client.post(reverse("websites:share_revoke", args=[website.pk, link.pk]))
    assert response.status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None
    assert token not in owner_client.get(page).content.decode()
    assert Client().get(share_url(token)).status_code == 404


def test_the_form_says_what_is_wrong(owner_client, website):
    page = reverse("websites:sharing", args=[website.pk])
    response = owner_client.post(
        page, {"label": "x", "password": "short", "embed_hosts": "evil; script-src *"}
    )
    assert response.status_code == 200
    assert not ShareLink.objects.exists()
    errors = response.context["form"].errors
    assert "password" in errors and "embed_hosts" in errors


def test_another_user_cannot_see_or_revoke_the_links(client, website):
    link = share_link_create(website=website, label="x").link
    client.force_login(make_user("other@example.com"))
    assert client.get(reverse("websites:sharing", args=[website.pk])).status_code == 404
    revoke = reverse("websites:share_revoke", args=[website.pk, link.pk])
    assert client.post(revoke).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


def test_a_link_of_another_website_cannot_be_revoked_through_this_one(owner_client, website, owner):
    second = make_website(owner=owner, domain="second.example")
    link = share_link_create(website=second, label="x").link
    response = owner_client.post(reverse("websites:share_revoke", args=[website.pk, link.pk]))
    assert response.status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


# --- the public dashboard -----------------------------------------------------------------


def test_the_shared_dashboard_shows_the_owners_numbers(owner_client, website):
    token = share_link_create(website=website, label="x").token
    mine = owner_client.get(reverse("dashboard:overview", args=[website.pk]), DAY)
    shared = Client().get(share_url(token), DAY)
    assert shared.status_code == 200
    assert shared.context["cards"] == mine.context["cards"]

    # The same rows in every panel; only their links differ (they stay under the share URL).
    def rows(response):
        return [
            [(t.key, [(r.label, r.visitors, r.share) for r in t.rows]) for t in panel.tabs]
            for panel in response.context["panels"]
        ]

    assert rows(shared) == rows(mine) and any(any(r for _, r in p) for p in rows(mine))
    card_values = {c.key: c.value for c in shared.context["cards"]}
    assert (card_values["visitors"], card_values["pageviews"]) == ("2", "3")


def test_every_link_stays_under_the_share_url(website):
    token = share_link_create(website=website, label="x").token
    client = Client()
    prefix = share_url(token)
    pages = [
        share_url(token) + "?period=custom&from=2026-01-15&to=2026-01-15",
        share_url(token) + "?period=custom&from=2026-01-15&to=2026-01-15&device=mobile",
        share_url(token, "share_details", "pages") + "?period=30d",
        share_url(token) + "?period=bogus",  # the 400 page
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code in (200, 400), url
        html = response.content.decode()
        links = page_links(html)
        assert links, url
        for link in links:
            path = urlsplit(urljoin(url, link)).path
            assert path.startswith(prefix) or path.startswith("/static/"), (url, link)
        for forbidden in ("/websites/", "/api/", "/accounts/", "Settings", "Snippet", "Segments"):
            assert forbidden not in html, (url, forbidden)
        assert '<meta name="robots" content="noindex, nofollow">' in html
        assert response["X-Robots-Tag"] == "noindex, nofollow"
        assert response["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_the_filter_form_live_numbers_and_csv_answer_under_the_share_url(website):
    token = share_link_create(website=website, label="x").token
    client = Client()
    query = "?period=custom&from=2026-01-15&to=2026-01-15"
    response = client.get(
        share_url(token, "share_filter") + query + "&dimension=device&op=is&values=mobile"
    )
    assert response.status_code == 302
    assert response["Location"].startswith(share_url(token) + "?")
    assert "device=mobile" in response["Location"]
    filtered = client.get(response["Location"])
    assert {c.key: c.value for c in filtered.context["cards"]}["visitors"] == "1"
    live = client.get(share_url(token, "share_live") + "?version=")
    assert live.status_code == 200 and set(live.json()) >= {"current_visitors", "has_data"}
    csv = client.get(share_url(token, "share_export") + query)
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert csv.content.startswith(b"section,") or b"total," in csv.content


def test_a_logged_in_visitor_sees_no_app_navigation_either(owner_client, website):
    token = share_link_create(website=website, label="x").token
    html = owner_client.get(share_url(token), DAY).content.decode()
    assert "API keys" not in html and "Log out" not in html and "/websites/" not in html


def test_a_website_without_data_shows_no_snippet(owner):
    empty = make_website(owner=owner, domain="empty.example")
    token = share_link_create(website=empty, label="x").token
    response = Client().get(share_url(token))
    html = response.content.decode()
    assert response.status_code == 200 and "No visits recorded yet" in html
    assert empty.tracking_id not in html and "<script defer" not in html


def test_unknown_and_revoked_tokens_are_the_same_404(website):
    created = share_link_create(website=website, label="x")
    share_link_revoke(link=created.link)
    revoked = Client().get(share_url(created.token))
    unknown = Client().get(share_url("A" * 43))
    short = Client().get(share_url("nope"))
    assert revoked.status_code == unknown.status_code == short.status_code == 404
    assert revoked.content == unknown.content
    for name, args in [("share_live", []), ("share_export", []), ("share_details", ["pages"])]:
        assert Client().get(share_url(created.token, name, *args)).status_code == 404


def test_a_link_opens_its_own_website_only(owner, website):
    other_site = make_website(owner=make_user("other@example.com"), domain="other.example")
    record_events(
        other_site,
        [{"type": "PAGE_VIEW", "url": "https://other.example/other-only", "at": D}],
    )
    other_token = share_link_create(website=other_site, label="x").token
    html = Client().get(share_url(other_token), DAY).content.decode()
    assert "other.example" in html
    assert "example.com" not in html.replace("other.example", "")
    assert "/owner-only-9f" not in html
    # No parameter picks another website: the token alone says which.
    html = Client().get(share_url(other_token), {**DAY, "pk": website.pk}).content.decode()
    assert "/owner-only-9f" not in html


def test_the_password_flow(website):
    token = share_link_create(website=website, label="x", password=PASSWORD).token
    client = Client(enforce_csrf_checks=True)
    url = share_url(token) + "?period=custom&from=2026-01-15&to=2026-01-15"
    gate = client.get(url)
    assert gate.status_code == 200 and b'name="password"' in gate.content
    assert b"kpi-value" not in gate.content and b"/owner-only-9f" not in gate.content
    assert gate["X-Robots-Tag"] == "noindex, nofollow"
    # The form must send its real Origin for the CSRF check.
    assert gate["Referrer-Policy"] == "same-origin"
    csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', gate.content)[1].decode()
    # Everything else of the link is closed too.
    assert client.get(share_url(token, "share_live")).status_code == 403
    assert b"kpi-value" not in client.get(share_url(token, "share_export")).content

    wrong = client.post(url, {"password": "nope", "csrfmiddlewaretoken": csrf})
    assert wrong.status_code == 403
    assert "That is not the password" in wrong.content.decode()
    assert b"/owner-only-9f" not in wrong.content

    right = client.post(url, {"password": PASSWORD, "csrfmiddlewaretoken": csrf})
    assert right.status_code == 303 and right["Location"] == url
    page = client.get(url)
    assert page.status_code == 200 and b"kpi-value" in page.content
    assert client.get(share_url(token, "share_live")).status_code == 200
    # Remembered for this browser session only: the cookie ends with the browser, and
    # another browser (a fresh client) gets the password page.
    assert (
        client.cookies["sessionid"]["expires"] == "" and not client.cookies["sessionid"]["max-age"]
    )
    assert Client().get(url).status_code == 200
    assert b"kpi-value" not in Client().get(url).content


def test_wrong_passwords_are_rate_limited(website, settings):
    settings.SHARE_FAILURES_PER_MINUTE = 3
    token = share_link_create(website=website, label="x", password=PASSWORD).token
    client = Client()
    for _ in range(3):
        assert client.post(share_url(token), {"password": "nope"}).status_code == 403
    refused = client.post(share_url(token), {"password": PASSWORD})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many wrong passwords" in refused.content.decode()
    assert b"kpi-value" not in refused.content
    # Another client still gets in.
    other = Client(REMOTE_ADDR="203.0.113.50")
    assert other.post(share_url(token), {"password": PASSWORD}).status_code == 303


def test_unknown_tokens_are_rate_limited_like_api_keys(website, settings):
    settings.SHARE_FAILURES_PER_MINUTE = 2
    token = share_link_create(website=website, label="x").token
    client = Client()
    for n in range(2):
        assert client.get(share_url(f"{n}" * 43)).status_code == 404
    refused = client.get(share_url(token))
    assert refused.status_code == 429 and refused["Retry-After"]
    # Another client is not affected.
    assert Client(REMOTE_ADDR="203.0.113.50").get(share_url(token)).status_code == 200


def test_requests_are_rate_limited_per_client_and_per_link(website, settings):
    settings.SHARE_REQUESTS_PER_MINUTE = 3
    settings.SHARE_LINK_REQUESTS_PER_MINUTE = 5
    token = share_link_create(website=website, label="x").token
    live = share_url(token, "share_live")
    first = Client(REMOTE_ADDR="203.0.113.1")
    for _ in range(3):
        assert first.get(live).status_code == 200
    refused = first.get(live)
    assert refused.status_code == 429 and refused.json()["error"]
    assert int(refused["Retry-After"]) >= 1
    second = Client(REMOTE_ADDR="203.0.113.2")
    assert [second.get(live).status_code for _ in range(3)] == [200, 200, 429]


def test_frame_ancestors_follow_the_links_hosts(website):
    closed = share_link_create(website=website, label="x").token
    response = Client().get(share_url(closed))
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    embeddable = share_link_create(
        website=website, label="y", embed_hosts="https://blog.example.com *.example.org"
    ).token
    response = Client().get(share_url(embeddable))
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors https://blog.example.com *.example.org" in policy
    assert "script-src 'self'" in policy  # the rest of the policy stays
    assert "X-Frame-Options" not in response


def test_share_pages_take_no_other_methods(website):
    token = share_link_create(website=website, label="x").token
    assert Client().put(share_url(token)).status_code == 405
    assert Client().delete(share_url(token, "share_live")).status_code == 405
    # A POST to a link without a password changes nothing and goes back to the page.
    response = Client().post(share_url(token), {"password": "x"})
    assert response.status_code == 303


def test_hostile_query_strings_are_never_a_500_and_never_lead_out(website, settings):
    settings.SHARE_REQUESTS_PER_MINUTE = 0
    token = share_link_create(website=website, label="x").token
    prefix = share_url(token)
    client = Client()
    pages = [prefix, share_url(token, "share_details", "pages"), share_url(token, "share_export")]
    for page in pages:
        for query in BAD_QUERIES + BAD_LIMITS + ODD_QUERIES:
            response = client.get(f"{page}?{query}")
            assert response.status_code in (200, 400), f"{page}?{query}: {response.status_code}"
            if response["Content-Type"].startswith("text/html"):
                for link in page_links(response.content.decode()):
                    path = urlsplit(urljoin(page, link)).path
                    assert path.startswith((prefix, "/static/")), (query, link)
