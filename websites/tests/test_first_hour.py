"""A fresh install's first websites: ``localhost``, IP addresses and URLs with a port are
domains, a loopback website's snippet carries ``data-allow-localhost``, its pages on any
loopback host and port are tracked, and ``site add`` puts ``BASE_URL`` into the snippet."""

from __future__ import annotations

import html
import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.urls import reverse

from simple_analytics.testing import DESKTOP_UA, make_user, make_website, site_of
from tracking.models import Event
from websites.models import Website
from websites.services import normalise_domain, site_url, snippet

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return make_user("owner@example.com")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("127.0.0.1", "127.0.0.1"),
        ("http://127.0.0.1:18743/", "127.0.0.1"),
        ("https://192.168.1.20:8443/shop", "192.168.1.20"),
        ("[::1]", "::1"),
        ("http://[::1]:3000/", "::1"),
        ("localhost", "localhost"),
        ("localhost:8000", "localhost"),
        ("http://localhost:5173/app", "localhost"),
        ("Example.com:8080", "example.com"),
    ],
)
def test_localhost_ip_addresses_and_ports_are_accepted(typed, stored):
    assert normalise_domain(typed) == stored


@pytest.mark.parametrize("typed", ["fe80::1%eth0", "1.2.3", "127.0.0", "http://"])
def test_what_is_no_host_is_still_refused(typed):
    with pytest.raises(ValidationError, match="not a valid domain"):
        normalise_domain(typed)


def test_the_add_form_takes_a_local_url_and_its_snippet_allows_localhost(owner_client, owner):
    response = owner_client.post(
        reverse("websites:add"), {"domain": "http://127.0.0.1:18743/", "timezone": "UTC"}
    )
    website = Website.objects.get(owner=owner)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:snippet", args=[website.pk])
    assert website.domain == "127.0.0.1"
    page = html.unescape(owner_client.get(response["Location"]).content.decode())
    assert f'data-site="{website.tracking_id}" data-allow-localhost></script>' in page
    assert "data-localhost-note" in page and "any port" in page


def test_only_a_loopback_website_gets_the_attribute():
    owner = make_user()
    tags = {
        domain: snippet(make_website(owner=owner, domain=domain), "https://stats.example/")
        for domain in ("localhost", "127.0.0.1", "::1", "192.168.1.20", "example.com")
    }
    assert [d for d, tag in tags.items() if "data-allow-localhost" in tag] == [
        "localhost",
        "127.0.0.1",
        "::1",
    ]
    assert tags["example.com"].startswith('<script defer src="https://stats.example/pixel.js"')


def test_a_loopback_website_allows_every_loopback_host():
    for domain in ("127.0.0.1", "localhost", "::1"):
        site = site_of(make_website(domain=domain))
        allowed = ["localhost", "127.0.0.1", "127.0.0.2", "::1", "LOCALHOST"]
        assert all(site.allows_host(h) for h in allowed), domain
        assert not site.allows_host("example.com") and not site.allows_host("10.0.0.1")
    lan = site_of(make_website(domain="192.168.1.20"))
    assert lan.allows_host("192.168.1.20") and not lan.allows_host("localhost")


def test_an_event_from_a_page_on_a_port_of_the_websites_ip_is_stored(client):
    website = make_website(domain="127.0.0.1")
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "http://127.0.0.1:18743/a"}
    response = client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        HTTP_ORIGIN="http://localhost:18743",
    )
    assert response.status_code == 202
    assert list(Event.objects.filter(website=website).values_list("path", flat=True)) == ["/a"]


def test_the_exclusions_page_links_a_local_website_over_http(owner_client, owner):
    assert site_url("127.0.0.1") == "http://127.0.0.1/"
    assert site_url("::1") == "http://[::1]/"
    assert site_url("example.com") == "https://example.com/"
    website = make_website(owner=owner, domain="::1")
    page = owner_client.get(reverse("websites:exclusions", args=[website.pk]))
    assert page.context["ignore_url"] == "http://[::1]/#sa-ignore"


def test_site_add_puts_base_url_into_the_snippet(owner):
    out, err = StringIO(), StringIO()
    with override_settings(BASE_URL="https://stats.example.org"):
        call_command("site_add", "shop.example", "--owner", owner.email, stdout=out, stderr=err)
    assert '<script defer src="https://stats.example.org/pixel.js"' in out.getvalue()
    assert err.getvalue() == ""


def test_site_add_without_base_url_says_the_snippet_only_works_on_this_machine(owner):
    out, err = StringIO(), StringIO()
    with override_settings(BASE_URL="", HOST="0.0.0.0", PORT=8123):
        call_command("site_add", "localhost:3000", "--owner", owner.email, stdout=out, stderr=err)
    website = Website.objects.get()
    assert out.getvalue().splitlines()[-1] == (
        '<script defer src="http://localhost:8123/pixel.js" '
        f'data-site="{website.tracking_id}" data-allow-localhost></script>'
    )
    assert "BASE_URL is not set" in err.getvalue()


def test_site_add_base_url_option_wins_and_is_checked(owner):
    out = StringIO()
    with override_settings(BASE_URL="https://stats.example.org"):
        call_command(
            "site_add",
            "shop.example",
            "--owner",
            owner.email,
            "--base-url",
            "https://other.example/",
            stdout=out,
        )
    assert 'src="https://other.example/pixel.js"' in out.getvalue()
    with pytest.raises(CommandError, match="--base-url must start with http"):
        call_command("site_add", "b.example", "--owner", owner.email, "--base-url", "x.example")


def test_the_snippet_page_uses_base_url_when_set(owner_client, owner):
    website = make_website(owner=owner, domain="shop.example")
    url = reverse("dashboard:snippet", args=[website.pk])
    page = html.unescape(owner_client.get(url).content.decode())
    assert 'src="http://testserver/pixel.js"' in page and "data-base-url-note" in page
    with override_settings(BASE_URL="https://stats.example.org"):
        page = html.unescape(owner_client.get(url).content.decode())
    assert 'src="https://stats.example.org/pixel.js"' in page
    assert "data-base-url-note" not in page and "<code>stats.example.org</code>" in page
