"""The hosts whose pages may send a website's events: how the list is typed, checked, saved
and matched (ingestion's side is in ``tracking/tests/test_foreign_hosts.py``)."""

from __future__ import annotations

import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import make_user, make_website
from websites.models import Website
from websites.selectors import TrackedSite, tracked_site_get
from websites.services import (
    MAX_ALLOWED_HOSTNAMES,
    normalise_allowed_hostnames,
    website_create,
    website_update,
)

UTC = zoneinfo.ZoneInfo("UTC")


# --- typing the list ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("", ""),
        (" \n\t ", ""),
        ("Staging.Example.NET", "staging.example.net"),
        ("https://www.shop.example.org/path?q=1", "shop.example.org"),
        ("*.Example.org", "*.example.org"),
        ("localhost:3000", "localhost"),
        ("*.localhost", "*.localhost"),
        ("127.0.0.1:8000", "127.0.0.1"),
        ("[::1]", "::1"),
        ("http://[::1]:8000/", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("192.168.1.20", "192.168.1.20"),
        ("*", "*"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("a.example, b.example\r\nc.example  A.example,,", "a.example\nb.example\nc.example"),
    ],
)
def test_hosts_are_normalised_one_a_line_without_duplicates(typed, stored):
    assert normalise_allowed_hostnames(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "staging",  # not a domain: no dot
        "*.com",  # a wildcard over a whole top-level domain
        "*.*.example.com",
        "*example.com",
        "*.127.0.0.1",
        "-bad-.example",
        "ex_ample.com",
        "ä..com",  # IDNA refuses an empty label
        "xn--ä.com",
        "ä" * 70 + ".com",  # a label over 63 characters once encoded
        "a" * 300 + ".com",
        "javascript:alert(1)",
        "http://",
        "https://[::1",
    ],
)
def test_a_bad_entry_is_refused_by_name(typed):
    with pytest.raises(ValidationError) as caught:
        normalise_allowed_hostnames(f"good.example\n{typed}")
    (message,) = caught.value.messages
    assert message.startswith("Not a hostname: ")
    assert typed[:80] in message


def test_the_list_is_bounded():
    hosts = [f"h{i}.example" for i in range(MAX_ALLOWED_HOSTNAMES)]
    assert normalise_allowed_hostnames(" ".join(hosts)).count("\n") == len(hosts) - 1
    with pytest.raises(ValidationError, match="at most"):
        normalise_allowed_hostnames(" ".join([*hosts, "one-more.example"]))


@pytest.mark.django_db
def test_create_and_update_validate_before_writing():
    owner = make_user()
    with pytest.raises(ValidationError):
        website_create(owner=owner, domain="example.com", allowed_hostnames="not a host")
    assert not Website.objects.exists()
    website = website_create(owner=owner, domain="example.com", allowed_hostnames="Localhost")
    assert website.allowed_hostnames == "localhost"
    with pytest.raises(ValidationError):
        website_update(website=website, name="New", allowed_hostnames="ok.example bad")
    website.refresh_from_db()
    assert (website.name, website.allowed_hostnames) == ("example.com", "localhost")
    # Another change leaves the list alone.
    website_update(website=website, name="New")
    website.refresh_from_db()
    assert website.allowed_hostnames == "localhost"


# --- matching page hosts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, allowed",
    [
        ("example.com", True),
        ("EXAMPLE.COM", True),
        ("example.com.", True),
        ("www.example.com", True),
        ("shop.example.com", True),
        ("a.b.example.com", True),
        ("evil-example.com", False),
        ("example.com.evil.net", False),
        ("example.co", False),
        ("com", False),
        ("", False),
        ("localhost", False),
        ("127.0.0.1", False),
    ],
)
def test_by_default_the_domain_and_its_subdomains_are_allowed(host, allowed):
    assert TrackedSite(1, "example.com", UTC).allows_host(host) is allowed


@pytest.mark.parametrize(
    "host, allowed",
    [
        ("staging.example.net", True),
        ("www.staging.example.net", True),  # www. counts as the host itself, like the domain
        ("example.net", False),
        ("other.staging.example.net", False),  # only a wildcard allows subdomains
        ("example.org", True),
        ("a.b.example.org", True),
        ("notexample.org", False),
        ("192.168.1.20", True),
        ("192.168.1.21", False),
        ("bücher.example", True),  # a hand-made URL may carry Unicode; browsers send punycode
        ("xn--bcher-kva.example", True),
        ("ä..example", False),
        ("example.com", True),
    ],
)
def test_listed_hosts_add_to_the_domain(host, allowed):
    listed = "staging.example.net\n*.example.org\n192.168.1.20\nxn--bcher-kva.example"
    assert TrackedSite(1, "example.com", UTC, listed).allows_host(host) is allowed


@pytest.mark.parametrize(
    "host, allowed",
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("127.evil.example", False),
        ("10.0.0.1", False),
        ("::2", False),
    ],
)
@pytest.mark.parametrize("domain, listed", [("localhost", ""), ("example.com", "localhost")])
def test_localhost_means_this_machine_as_pixel_js_does(domain, listed, host, allowed):
    assert TrackedSite(1, domain, UTC, listed).allows_host(host) is allowed


def test_a_localhost_domain_allows_its_subdomains_like_any_domain():
    assert TrackedSite(1, "localhost", UTC).allows_host("app.localhost")
    assert not TrackedSite(1, "example.com", UTC, "localhost").allows_host("app.localhost")
    assert TrackedSite(1, "example.com", UTC, "*.localhost").allows_host("app.localhost")


def test_a_star_allows_any_host():
    site = TrackedSite(1, "example.com", UTC, "*")
    assert all(site.allows_host(h) for h in ["evil.example", "localhost", "10.0.0.1", ""])


# --- the settings page ------------------------------------------------------------------------


@pytest.fixture
def owner():
    return make_user("owner@example.com")


@pytest.fixture
def website(owner):
    return make_website(owner=owner, domain="example.com")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def edit(client: Client, website: Website, hosts: str):
    return client.post(
        reverse("websites:edit", args=[website.pk]),
        {
            "domain": website.domain,
            "name": website.name,
            "timezone": "UTC",
            "allowed_hostnames": hosts,
        },
    )


@pytest.mark.django_db
def test_the_settings_form_saves_the_list_and_ingestion_sees_it_at_once(owner_client, website):
    assert not tracked_site_get(website.tracking_id).allows_host("staging.example.net")
    response = edit(owner_client, website, "Staging.Example.NET\n*.example.org, localhost")
    assert response.status_code == 302
    website.refresh_from_db()
    assert website.allowed_hostnames == "staging.example.net\n*.example.org\nlocalhost"
    site = tracked_site_get(website.tracking_id)
    assert site is not None and site.allows_host("staging.example.net")
    # The page shows the saved list, one a line, to edit again.
    html = owner_client.get(reverse("websites:edit", args=[website.pk])).content.decode()
    assert "\nstaging.example.net\n*.example.org\nlocalhost</textarea>" in html
    assert "Pages on example.com and its subdomains always may" in html
    # Emptying the list goes back to the domain and its subdomains.
    assert edit(owner_client, website, "").status_code == 302
    website.refresh_from_db()
    assert website.allowed_hostnames == ""
    assert not tracked_site_get(website.tracking_id).allows_host("staging.example.net")


@pytest.mark.django_db
def test_the_settings_form_refuses_a_bad_entry_and_changes_nothing(owner_client, website):
    website_update(website=website, allowed_hostnames="kept.example")
    response = edit(owner_client, website, "new.example\n<b>x</b>.example")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["allowed_hostnames"]
    assert errors["allowed_hostnames"] == [
        "Not a hostname: <b>x</b>.example. Enter hosts like staging.example.com, "
        "*.example.com, localhost or 127.0.0.1."
    ]
    html = response.content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;.example" in html
    website.refresh_from_db()
    assert website.allowed_hostnames == "kept.example"


@pytest.mark.django_db
def test_the_add_page_does_not_ask_for_hosts(owner_client, owner):
    response = owner_client.get(reverse("websites:add"))
    assert 'name="allowed_hostnames"' not in response.content.decode()
    added = owner_client.post(
        reverse("websites:add"),
        {"domain": "new.example", "timezone": "UTC", "allowed_hostnames": "evil.example"},
    )
    assert added.status_code == 302
    assert Website.objects.get(owner=owner).allowed_hostnames == ""
