"""Website pages: list, add, settings, delete, snippet and status; owner-only, CSRF-safe."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import make_user, make_website, record_events
from tracking.models import DropCount, Event, Session
from websites.models import Website
from websites.selectors import tracked_site_get

pytestmark = pytest.mark.django_db


def page_view(path: str = "/", *, at: dt.datetime | None = None, ip: str = "203.0.113.7") -> dict:
    return {
        "type": "PAGE_VIEW",
        "url": f"https://example.com{path}",
        "ip": ip,
        "at": at or dt.datetime.now(dt.UTC),
    }


@pytest.fixture
def owner():
    return make_user("owner@example.com")


@pytest.fixture
def website(owner):
    return make_website(owner=owner, domain="example.com", timezone="Europe/Berlin")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def urls(website: Website) -> dict[str, str]:
    return {
        "edit": reverse("websites:edit", args=[website.pk]),
        "delete": reverse("websites:delete", args=[website.pk]),
        "snippet": reverse("dashboard:snippet", args=[website.pk]),
        "status": reverse("dashboard:status", args=[website.pk]),
    }


# --- list -------------------------------------------------------------------------------


def test_the_list_shows_an_empty_state_with_a_call_to_action(owner_client):
    response = owner_client.get(reverse("dashboard:websites"))
    assert response.status_code == 200
    assert b"Add your first website" in response.content
    assert reverse("websites:add").encode() in response.content


def test_the_list_shows_todays_visitors_and_a_sparkline(owner_client, website, owner):
    now = dt.datetime.now(dt.UTC)
    record_events(
        website,
        [
            page_view("/", ip="203.0.113.1"),
            page_view("/a", ip="203.0.113.2"),
            page_view("/b", ip="203.0.113.2"),
        ],
    )
    record_events(website, [page_view("/", ip="203.0.113.3", at=now - dt.timedelta(days=3))])
    other = make_website(owner=make_user(), domain="someone-else.example")
    response = owner_client.get(reverse("dashboard:websites"))
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row.website for row in rows] == [website]
    (row,) = rows
    assert row.visitors_today == 2
    assert len(row.daily_visitors) == 14
    assert row.daily_visitors[-1] == 2 and row.visitors_14d == 3
    html = response.content.decode()
    assert '<svg class="sparkline"' in html and "<polyline" in html
    assert "Waiting for data" not in html
    assert '<span class="stat-value">2</span>' in html
    assert other.domain not in html


def test_a_site_without_events_is_marked_as_waiting(owner_client, website):
    html = owner_client.get(reverse("dashboard:websites")).content.decode()
    assert "Waiting for data" in html
    assert '<svg class="sparkline is-empty"' in html


# --- add --------------------------------------------------------------------------------


def test_add_normalises_a_url_and_redirects_to_the_snippet(owner_client, owner):
    response = owner_client.post(
        reverse("websites:add"),
        {"domain": "https://www.Example.ORG/pricing?x=1", "name": "", "timezone": "Asia/Tokyo"},
    )
    website = Website.objects.get(owner=owner)
    assert (website.domain, website.name, website.timezone) == (
        "example.org",
        "example.org",
        "Asia/Tokyo",
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:snippet", args=[website.pk])
    assert tracked_site_get(website.tracking_id) is not None


def test_add_page_offers_the_time_zone_list_and_its_script(owner_client):
    response = owner_client.get(reverse("websites:add"))
    html = response.content.decode()
    assert '<option value="Europe/Berlin">' in html
    assert "data-detect-timezone" in html
    assert "websites/timezone.js" in html


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"domain": "not a domain", "timezone": "UTC"}, "domain"),
        ({"domain": "http://", "timezone": "UTC"}, "domain"),
        ({"domain": "", "timezone": "UTC"}, "domain"),
        ({"domain": "x" * 3000, "timezone": "UTC"}, "domain"),
        ({"domain": "example.com", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"domain": "example.com", "timezone": ""}, "timezone"),
        ({"domain": "example.com", "timezone": "localtime"}, "timezone"),
    ],
)
def test_add_shows_form_errors_for_bad_input(owner_client, owner, data, field):
    response = owner_client.post(reverse("websites:add"), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert b'class="field-error"' in response.content
    assert not Website.objects.filter(owner=owner).exists()


def test_add_refuses_a_domain_the_user_already_has(owner_client, website, owner):
    response = owner_client.post(
        reverse("websites:add"), {"domain": "www.example.com", "timezone": "UTC"}
    )
    assert response.status_code == 200
    assert "already has a website" in response.context["form"].errors["domain"][0]
    assert Website.objects.filter(owner=owner).count() == 1


def test_an_empty_post_shows_required_errors(owner_client):
    response = owner_client.post(reverse("websites:add"), {})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"domain", "timezone"}


# --- edit -------------------------------------------------------------------------------


def test_edit_changes_name_domain_and_time_zone(owner_client, website):
    tracked_site_get(website.tracking_id)  # cached by the ingest path
    response = owner_client.post(
        urls(website)["edit"],
        {"domain": "https://shop.example.com/", "name": "  Shop  ", "timezone": "America/New_York"},
    )
    assert response.status_code == 302
    assert response["Location"] == urls(website)["edit"]
    website.refresh_from_db()
    assert (website.domain, website.name, website.timezone) == (
        "shop.example.com",
        "Shop",
        "America/New_York",
    )
    # The ingest cache dropped its copy: the next lookup sees the new settings.
    site = tracked_site_get(website.tracking_id)
    assert site is not None and site.domain == "shop.example.com"
    assert str(site.tz) == "America/New_York"


def test_edit_page_shows_the_current_values(owner_client, website):
    response = owner_client.get(urls(website)["edit"])
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="example.com"' in html
    assert '<option value="Europe/Berlin" selected>' in html
    assert "data-detect-timezone" not in html  # the saved zone is not replaced


def test_edit_with_bad_values_changes_nothing(owner_client, website):
    response = owner_client.post(
        urls(website)["edit"], {"domain": "bad domain", "name": "x", "timezone": "Nowhere/Land"}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"domain", "timezone"}
    website.refresh_from_db()
    assert (website.domain, website.name, website.timezone) == (
        "example.com",
        "example.com",
        "Europe/Berlin",
    )


def test_edit_keeps_its_own_domain_but_refuses_another_sites(owner_client, website, owner):
    make_website(owner=owner, domain="other.example")
    ok = owner_client.post(
        urls(website)["edit"], {"domain": "example.com", "name": "Renamed", "timezone": "UTC"}
    )
    assert ok.status_code == 302
    clash = owner_client.post(
        urls(website)["edit"], {"domain": "other.example", "name": "x", "timezone": "UTC"}
    )
    assert clash.status_code == 200
    website.refresh_from_db()
    assert (website.domain, website.name) == ("example.com", "Renamed")


# --- delete -----------------------------------------------------------------------------


def test_delete_needs_the_typed_domain(owner_client, website):
    page = owner_client.get(urls(website)["delete"])
    assert page.status_code == 200
    assert b"Type the domain to confirm" in page.content
    for wrong in ["", "example.org", "yes"]:
        response = owner_client.post(urls(website)["delete"], {"confirm": wrong})
        assert response.status_code == 200
        assert Website.objects.filter(pk=website.pk).exists()


def test_delete_removes_the_website_and_all_its_data(owner_client, website, owner):
    record_events(
        website, [page_view("/"), page_view("/a"), {**page_view("/a"), "type": "PAGE_EXIT"}]
    )
    DropCount.objects.create(website=website, day=dt.date.today(), reason="bot", count=3)
    keep = make_website(owner=owner, domain="keep.example")
    record_events(keep, [{**page_view("/"), "url": "https://keep.example/"}])
    tracking_id = website.tracking_id
    assert tracked_site_get(tracking_id) is not None

    response = owner_client.post(urls(website)["delete"], {"confirm": " Example.com "})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:websites")
    assert not Website.objects.filter(pk=website.pk).exists()
    assert not Event.objects.filter(website_id=website.pk).exists()
    assert not Session.objects.filter(website_id=website.pk).exists()
    assert not DropCount.objects.filter(website_id=website.pk).exists()
    # Other websites keep their data, and the ingest path no longer knows the deleted one.
    assert Event.objects.filter(website=keep).count() == 1
    assert tracked_site_get(tracking_id) is None
    follow = owner_client.get(response["Location"])
    assert b"Deleted example.com and all its data." in follow.content


# --- snippet and status -----------------------------------------------------------------


def test_the_snippet_page_shows_the_tag_and_the_waiting_status(owner_client, website):
    response = owner_client.get(urls(website)["snippet"])
    assert response.status_code == 200
    html = response.content.decode()
    expected = (
        f"&lt;script defer src=&quot;http://testserver/pixel.js&quot; "
        f"data-site=&quot;{website.tracking_id}&quot;&gt;&lt;/script&gt;"
    )
    assert expected in html
    assert "Waiting for the first event…" in html
    assert f'data-status-url="{urls(website)["status"]}"' in html
    assert "websites/snippet.js" in html and "data-copy=" in html


def test_status_flips_to_receiving_when_the_first_event_arrives(owner_client, website):
    response = owner_client.get(urls(website)["status"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert json.loads(response.content) == {
        "receiving": False,
        "first_event_at": None,
        "events_today": 0,
    }

    record_events(website, [page_view("/"), page_view("/pricing")])
    data = json.loads(owner_client.get(urls(website)["status"]).content)
    assert data["receiving"] is True
    assert data["events_today"] == 2

    first = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    Website.objects.filter(pk=website.pk).update(first_event_at=first)
    data = json.loads(owner_client.get(urls(website)["status"]).content)
    assert data["first_event_at"] == first.isoformat()
    page = owner_client.get(urls(website)["snippet"]).content.decode()
    assert "Receiving data" in page and f'datetime="{first.isoformat()}"' in page


# --- security ---------------------------------------------------------------------------


def _all_requests(website: Website) -> list[tuple[str, str, dict]]:
    u = urls(website)
    good = {"domain": "hijacked.example", "name": "Hijacked", "timezone": "UTC"}
    return [
        ("get", u["edit"], {}),
        ("post", u["edit"], good),
        ("get", u["delete"], {}),
        ("post", u["delete"], {"confirm": website.domain}),
        ("get", u["snippet"], {}),
        ("get", u["status"], {}),
    ]


def _unchanged(website: Website) -> None:
    fresh = Website.objects.get(pk=website.pk)
    assert (fresh.domain, fresh.name, fresh.timezone) == (
        website.domain,
        website.name,
        website.timezone,
    )


def test_another_user_gets_404_everywhere_and_changes_nothing(website):
    outsider = Client()
    outsider.force_login(make_user("outsider@example.com"))
    for method, url, data in _all_requests(website):
        assert getattr(outsider, method)(url, data).status_code == 404, (method, url)
    _unchanged(website)
    assert website.domain.encode() not in outsider.get(reverse("dashboard:websites")).content


def test_an_unknown_id_is_a_404_like_someone_elses(owner_client):
    for name in ["websites:edit", "websites:delete", "dashboard:snippet", "dashboard:status"]:
        assert owner_client.get(reverse(name, args=[999999])).status_code == 404


def test_anonymous_users_are_sent_to_the_login_page(client, website):
    login = reverse("account_login")
    requests = [
        ("get", reverse("dashboard:websites"), {}),
        ("get", reverse("websites:add"), {}),
        ("post", reverse("websites:add"), {"domain": "x.example", "timezone": "UTC"}),
        *_all_requests(website),
    ]
    for method, url, data in requests:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith(login + "?next="), (method, url)
    _unchanged(website)
    assert Website.objects.count() == 1


def test_csrf_is_enforced_on_add_edit_and_delete(owner, website):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    u = urls(website)
    posts = [
        (reverse("websites:add"), {"domain": "new.example", "timezone": "UTC"}),
        (u["edit"], {"domain": "changed.example", "name": "x", "timezone": "UTC"}),
        (u["delete"], {"confirm": website.domain}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    _unchanged(website)
    assert Website.objects.filter(owner=owner).count() == 1

    # With the token from the form, the same request goes through.
    client.get(reverse("websites:add"))
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("websites:add"),
        {"domain": "new.example", "timezone": "UTC", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302


def test_pages_carry_no_inline_script_or_style(owner_client, website):
    record_events(website, [page_view("/")])
    pages = [
        reverse("dashboard:websites"),
        reverse("websites:add"),
        *list(urls(website).values())[:3],
    ]
    for url in pages:
        html = owner_client.get(url).content.decode()
        assert "<script>" not in html and "<script " not in html.replace(
            '<script type="module" src=', ""
        )
        assert " style=" not in html and "<style" not in html
        assert " onclick=" not in html and " onload=" not in html


def test_a_404_uses_our_page(owner_client):
    response = owner_client.get(reverse("websites:edit", args=[999999]))
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"simple_analytics/app.css" in response.content
