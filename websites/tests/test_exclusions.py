"""A website's exclusions: the addresses and path patterns whose events are answered but not
stored. How the lists are typed, checked, saved and matched, the settings page, and what
ingestion does with them."""

from __future__ import annotations

import ipaddress
import json
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import DESKTOP_UA, make_user, make_website
from tracking.models import DropCount, DropReason, Event, Session
from websites.models import Website
from websites.selectors import (
    EXCLUDED_IP,
    EXCLUDED_PATH,
    TrackedSite,
    tracked_site_get,
)
from websites.services import (
    MAX_EXCLUDED_IPS,
    MAX_EXCLUDED_PATHS,
    normalise_excluded_ips,
    normalise_excluded_paths,
    website_update,
)

UTC = zoneinfo.ZoneInfo("UTC")


def site(ips: str = "", paths: str = "") -> TrackedSite:
    return TrackedSite(1, "example.com", UTC, excluded_ips=ips, excluded_paths=paths)


# --- typing the address list ------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("", ""),
        (" \n\t ", ""),
        ("203.0.113.7", "203.0.113.7"),
        (
            " 203.0.113.7, 198.51.100.0/24\n2001:DB8::1 ",
            "203.0.113.7\n198.51.100.0/24\n2001:db8::1",
        ),
        ("203.0.113.7/24", "203.0.113.0/24"),  # the range the owner meant
        ("203.0.113.7/32", "203.0.113.7"),
        ("10.0.0.0/255.0.0.0", "10.0.0.0/8"),
        ("2001:db8:0:0::/48", "2001:db8::/48"),
        ("[::1]", "::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: the IPv4 it stands for
        ("::ffff:203.0.113.0/120", "203.0.113.0/24"),
        ("1.2.3.4 1.2.3.4/32\n1.2.3.4", "1.2.3.4"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_addresses_are_normalised_one_a_line(typed, stored):
    assert normalise_excluded_ips(typed) == stored


@pytest.mark.parametrize(
    "typed", ["example.com", "1.2.3", "1.2.3.4/33", "999.1.1.1", "2001:db8::/129", "1.2.3.4/x"]
)
def test_an_invalid_address_is_refused_by_name(typed):
    with pytest.raises(ValidationError) as caught:
        normalise_excluded_ips(f"203.0.113.7\n{typed}")
    assert caught.value.code == "invalid_ip"
    assert caught.value.messages == [
        f"Not an IP address or range: {typed}. Enter addresses like 203.0.113.7 or "
        "2001:db8::1, or ranges like 203.0.113.0/24 or 2001:db8::/48."
    ]


def test_a_long_invalid_entry_is_shown_shortened():
    with pytest.raises(ValidationError) as caught:
        normalise_excluded_ips("x" * 500)
    assert "x" * 80 + "…." in caught.value.messages[0]
    assert "x" * 81 not in caught.value.messages[0]


def test_at_most_100_addresses_or_ranges():
    hundred = [f"10.0.{i}.0/24" for i in range(MAX_EXCLUDED_IPS)]
    assert normalise_excluded_ips("\n".join(hundred)).count("\n") == MAX_EXCLUDED_IPS - 1
    # Duplicates do not count.
    assert normalise_excluded_ips("\n".join(hundred + hundred[:5]))
    with pytest.raises(ValidationError) as caught:
        normalise_excluded_ips("\n".join([*hundred, "192.0.2.1"]))
    assert caught.value.code == "too_many_ips"
    assert caught.value.messages == [
        "List at most 100 addresses or ranges (a range like 203.0.113.0/24 covers many)."
    ]


# --- typing the path list ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("", ""),
        ("/admin/**", "/admin/**"),
        ("  /admin/**\n\n/blog/*/edit \r\n/preview", "/admin/**\n/blog/*/edit\n/preview"),
        ("/a /b", "/a\n/b"),  # a browser's path has no spaces
        ("/admin/**\n/admin/**", "/admin/**"),
        ("/café/**", "/caf%C3%A9/**"),  # as browsers send the path
        ("/caf%C3%A9/**", "/caf%C3%A9/**"),
        ("/**/admin/**", "/**/admin/**"),
    ],
)
def test_path_patterns_are_normalised_one_a_line(typed, stored):
    assert normalise_excluded_paths(typed) == stored


@pytest.mark.parametrize(
    "typed, message",
    [
        ("admin/**", 'A path pattern starts with "/", like /admin/**: admin/**.'),
        ("https://example.com/admin", 'A path pattern starts with "/", like /admin/**: '),
        ("/search?q=*", 'A path pattern matches the path only: leave out the query ("?...")'),
        ("/docs#intro", 'A path pattern matches the path only: leave out the query ("?...")'),
        ("/" + "a" * 200, "A path pattern has at most 200 characters: /aaa"),
        ("/**/*/**", "A path pattern cannot use * between two **: /**/*/**."),
    ],
)
def test_an_invalid_path_pattern_is_refused_by_name(typed, message):
    with pytest.raises(ValidationError) as caught:
        normalise_excluded_paths(f"/ok\n{typed}")
    assert caught.value.code == "invalid_path"
    assert caught.value.messages[0].startswith(message)


def test_at_most_100_path_patterns():
    hundred = [f"/p{i}/**" for i in range(MAX_EXCLUDED_PATHS)]
    assert normalise_excluded_paths("\n".join(hundred)).count("\n") == MAX_EXCLUDED_PATHS - 1
    with pytest.raises(ValidationError) as caught:
        normalise_excluded_paths("\n".join([*hundred, "/one-more"]))
    assert caught.value.code == "too_many_paths"


# --- matching ---------------------------------------------------------------------------------


def test_the_reasons_are_the_drop_reasons_of_ingestion():
    assert (EXCLUDED_IP, EXCLUDED_PATH) == (DropReason.EXCLUDED_IP, DropReason.EXCLUDED_PATH)


def test_without_exclusions_nothing_is_excluded():
    for ip, path in [("203.0.113.7", "/admin/"), ("", "/"), ("::1", "/x")]:
        assert site().excluded(ip, path) is None


@pytest.mark.parametrize(
    "ip, excluded",
    [
        ("203.0.113.7", True),  # listed alone
        ("203.0.113.8", False),
        ("198.51.100.0", True),  # first and last of a /24
        ("198.51.100.255", True),
        ("198.51.101.0", False),
        ("198.51.99.255", False),
        ("2001:db8::1", True),
        ("2001:db8::2", False),
        ("2001:db8:aa:1::99", True),  # in 2001:db8:aa::/48
        ("2001:db8:ab::", False),
        ("::ffff:203.0.113.7", True),  # IPv4-mapped IPv6: its IPv4 counts
        ("::ffff:198.51.100.20", True),
        ("::ffff:203.0.113.8", False),
        ("::cb00:7107", False),  # the same 32 bits, but not a mapped address
        ("", False),
        ("unknown", False),
        ("203.0.113", False),
        ("203.0.113.7:443", False),
    ],
)
def test_an_address_is_excluded_when_listed_or_in_a_listed_range(ip, excluded):
    listed = "203.0.113.7\n198.51.100.0/24\n2001:db8::1\n2001:db8:aa::/48"
    expected = EXCLUDED_IP if excluded else None
    assert site(ips=listed).excluded(ip, "/") == expected


def test_overlapping_and_many_ranges_match_like_the_ipaddress_module():
    listed = [f"10.{i}.0.0/16" for i in range(0, 200, 2)][:99] + ["10.0.0.0/12"]
    tracked = site(ips="\n".join(listed))
    networks = [ipaddress.ip_network(n) for n in listed]
    for a in range(0, 256, 3):
        for b in (0, 1, 255):
            ip = f"10.{a}.{b}.1"
            expected = any(ipaddress.ip_address(ip) in n for n in networks)
            assert (tracked.excluded(ip, "/") == EXCLUDED_IP) is expected, ip


def test_an_entry_stored_past_validation_is_ignored_not_an_error():
    tracked = site(ips="bogus\n10.0.0.0/8", paths="/admin/**")
    assert tracked.excluded("10.1.2.3", "/") == EXCLUDED_IP
    assert tracked.excluded("192.0.2.1", "/admin/x") == EXCLUDED_PATH


@pytest.mark.parametrize(
    "path, excluded",
    [
        ("/admin/", True),
        ("/admin/users/1", True),
        ("/admin", False),  # /admin/** is what is under /admin/
        ("/administrator/", False),
        ("/x/admin/", False),  # the whole path must match
        ("/blog/hello/edit", True),
        ("/blog/hello/edit/", False),
        ("/blog/2024/hello/edit", False),  # * stays within one segment
        ("/preview", True),
        ("/preview/1", False),
        ("/PREVIEW", False),
        ("/caf%C3%A9/menu", True),
        ("/", False),
    ],
)
def test_a_path_is_excluded_when_a_pattern_matches_all_of_it(path, excluded):
    patterns = normalise_excluded_paths("/admin/**\n/blog/*/edit\n/preview\n/café/**")
    expected = EXCLUDED_PATH if excluded else None
    assert site(paths=patterns).excluded("192.0.2.1", path) == expected


def test_an_excluded_address_wins_over_an_excluded_path():
    tracked = site(ips="192.0.2.1", paths="/admin/**")
    assert tracked.excluded("192.0.2.1", "/admin/x") == EXCLUDED_IP
    assert tracked.excluded("", "/admin/x") == EXCLUDED_PATH
    assert tracked.excluded("not an ip", "/admin/x") == EXCLUDED_PATH


def test_special_characters_in_a_pattern_are_literal():
    tracked = site(paths="/a.b/(x)/[y]+$")
    assert tracked.excluded("", "/a.b/(x)/[y]+$") == EXCLUDED_PATH
    assert tracked.excluded("", "/axb/(x)/[y]+$") is None


# --- saving, and the cached copy of ingestion -----------------------------------------------


@pytest.mark.django_db
def test_saving_exclusions_applies_to_the_next_lookup_of_this_process():
    website = make_website(domain="example.com")
    before = tracked_site_get(website.tracking_id)  # cached now
    assert before is not None and before.excluded("192.0.2.1", "/admin/") is None
    website_update(website=website, excluded_ips="192.0.2.0/24", excluded_paths="/admin/**")
    after = tracked_site_get(website.tracking_id)
    assert after is not None
    assert after.excluded("192.0.2.1", "/") == EXCLUDED_IP
    assert after.excluded("198.51.100.1", "/admin/") == EXCLUDED_PATH
    website_update(website=website, excluded_ips="", excluded_paths="")
    emptied = tracked_site_get(website.tracking_id)
    assert emptied is not None and emptied.excluded("192.0.2.1", "/admin/") is None


@pytest.mark.django_db
def test_a_refused_update_changes_nothing():
    website = make_website(domain="example.com")
    website_update(website=website, excluded_ips="192.0.2.1", excluded_paths="/kept")
    with pytest.raises(ValidationError):
        website_update(website=website, excluded_ips="198.51.100.1", excluded_paths="nope")
    website.refresh_from_db()
    assert (website.excluded_ips, website.excluded_paths) == ("192.0.2.1", "/kept")


# --- the page ---------------------------------------------------------------------------------


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


def page_url(website: Website) -> str:
    return reverse("websites:exclusions", args=[website.pk])


def save(client: Client, website: Website, ips: str, paths: str):
    return client.post(page_url(website), {"excluded_ips": ips, "excluded_paths": paths})


@pytest.mark.django_db
def test_the_page_shows_the_lists_and_the_links_that_switch_a_browser_off_and_on(
    owner_client, website
):
    website_update(website=website, excluded_ips="192.0.2.1\n10.0.0.0/8", excluded_paths="/x/**")
    response = owner_client.get(page_url(website))
    assert response.status_code == 200
    html = response.content.decode()
    assert "\n192.0.2.1\n10.0.0.0/8</textarea>" in html
    assert "\n/x/**</textarea>" in html
    assert "https://example.com/#sa-ignore" in html
    assert "https://example.com/#sa-track" in html
    assert 'aria-current="page">Exclusions</a>' in html
    # Reached from the tab bar and from the settings page.
    settings = owner_client.get(reverse("websites:edit", args=[website.pk])).content.decode()
    assert f'href="{page_url(website)}"' in settings


@pytest.mark.django_db
def test_a_localhost_site_gets_an_http_link(owner, owner_client):
    website = make_website(owner=owner, domain="localhost")
    html = owner_client.get(page_url(website)).content.decode()
    assert "http://localhost/#sa-ignore" in html


@pytest.mark.django_db
def test_the_form_saves_normalised_lists_and_ingestion_sees_them_at_once(owner_client, website):
    assert tracked_site_get(website.tracking_id) is not None  # cached before the change
    response = save(owner_client, website, "192.0.2.1, 198.51.100.7/24", " /admin/**\n/preview ")
    assert response.status_code == 302
    assert response["Location"] == page_url(website)
    website.refresh_from_db()
    assert website.excluded_ips == "192.0.2.1\n198.51.100.0/24"
    assert website.excluded_paths == "/admin/**\n/preview"
    tracked = tracked_site_get(website.tracking_id)
    assert tracked is not None
    assert tracked.excluded("198.51.100.200", "/") == EXCLUDED_IP
    assert tracked.excluded("203.0.113.1", "/preview") == EXCLUDED_PATH
    assert "Exclusions saved." in owner_client.get(page_url(website)).content.decode()
    # Emptying both lists excludes nothing again.
    assert save(owner_client, website, "", "").status_code == 302
    tracked = tracked_site_get(website.tracking_id)
    assert tracked is not None and tracked.excluded("192.0.2.1", "/admin/") is None


@pytest.mark.django_db
def test_the_form_refuses_a_bad_entry_and_changes_nothing(owner_client, website):
    website_update(website=website, excluded_ips="192.0.2.1", excluded_paths="/kept")
    response = save(owner_client, website, "198.51.100.1\n<b>x</b>", "admin")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"excluded_ips", "excluded_paths"}
    assert errors["excluded_ips"][0].startswith("Not an IP address or range: <b>x</b>.")
    assert errors["excluded_paths"] == ['A path pattern starts with "/", like /admin/**: admin.']
    html = response.content.decode()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    website.refresh_from_db()
    assert (website.excluded_ips, website.excluded_paths) == ("192.0.2.1", "/kept")


@pytest.mark.django_db
def test_another_users_website_is_a_404_and_stays_unchanged(website):
    outsider = Client()
    outsider.force_login(make_user("outsider@example.com"))
    assert outsider.get(page_url(website)).status_code == 404
    assert save(outsider, website, "192.0.2.1", "/x").status_code == 404
    website.refresh_from_db()
    assert (website.excluded_ips, website.excluded_paths) == ("", "")


@pytest.mark.django_db
def test_an_anonymous_visitor_is_sent_to_log_in(client, website):
    response = client.get(page_url(website))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


# --- ingestion ------------------------------------------------------------------------------


def post_event(client: Client, website: Website, path: str, ip: str):
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": f"https://example.com{path}"}
    return client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        REMOTE_ADDR=ip,
    )


# Depends on the pipeline step ``tracking.pipeline.drop_excluded`` (the ingest side of
# issue 14), which asks ``TrackedSite.excluded`` once the path is known.
@pytest.mark.django_db
def test_excluded_events_are_answered_202_not_stored_and_counted_per_reason(client, website):
    website_update(website=website, excluded_ips="192.0.2.0/24", excluded_paths="/admin/**")
    answers = [
        post_event(client, website, "/", "192.0.2.10"),  # excluded address
        post_event(client, website, "/admin/users", "192.0.2.11"),  # both: the address wins
        post_event(client, website, "/admin/", "198.51.100.1"),  # excluded path
        post_event(client, website, "/admin/x", "198.51.100.2"),
    ]
    assert [(r.status_code, r.content) for r in answers] == [(202, b"")] * 4
    assert (Event.objects.count(), Session.objects.count()) == (0, 0)
    counts = dict(DropCount.objects.filter(website=website).values_list("reason", "count"))
    assert counts == {"excluded_ip": 2, "excluded_path": 2}
    # Other addresses and paths are stored as usual.
    assert post_event(client, website, "/admin", "198.51.100.1").status_code == 202
    assert post_event(client, website, "/", "203.0.113.5").status_code == 202
    assert Event.objects.filter(website=website).count() == 2
