"""The waiting page of a website without events: what arrived and why it was dropped, with
the fix for each reason, on the dashboard and the snippet page, and in status.json for the
page's script; plus the hints for browsers that send nothing at all."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import DESKTOP_UA, make_user, make_website

pytestmark = pytest.mark.django_db

HEADLESS_UA = DESKTOP_UA.replace("Chrome/", "HeadlessChrome/")


def send(client: Client, website, url: str, ua: str = DESKTOP_UA, **headers: str) -> None:
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": url}
    response = client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=ua,
        **headers,
    )
    assert response.status_code == 202


@pytest.fixture
def owner_client():
    owner = make_user()
    client = Client()
    client.force_login(owner)
    return client, owner


def test_status_lists_each_drop_reason_with_its_fix(owner_client):
    client, owner = owner_client
    website = make_website(owner=owner, domain="shop.example")
    send(client, website, "https://shop.example/", ua=HEADLESS_UA)
    send(client, website, "https://shop.example/", ua=HEADLESS_UA)
    send(client, website, "http://localhost:3000/")
    send(client, website, "https://shop.example/", HTTP_DNT="1")
    status = client.get(reverse("dashboard:status", args=[website.pk]), {"dropped": "1"}).json()
    assert status["receiving"] is False
    assert [(d["reason"], d["count"]) for d in status["dropped"]] == [
        ("bot", 2),
        ("do_not_track", 1),
        ("foreign_host", 1),
    ]
    fixes = {d["reason"]: d["fix"] for d in status["dropped"]}
    assert "normal browser window" in fixes["bot"]
    assert "HONOR_DNT=False" in fixes["do_not_track"]
    assert "settings" in fixes["foreign_host"]


def test_the_waiting_dashboard_shows_what_arrived_and_the_hints(owner_client):
    client, owner = owner_client
    website = make_website(owner=owner, domain="shop.example")
    url = reverse("dashboard:overview", args=[website.pk])
    page = client.get(url).content.decode()
    assert "Waiting for the first event" in page and "data-waiting-url" in page
    assert "No event has arrived yet" in page
    assert 'data-hint="headless"' in page and "navigator.webdriver" in page
    assert "unless its tag has <code>data-allow-localhost</code>" in page
    assert "dashboard/waiting.js" in page
    send(client, website, "https://shop.example/", ua=HEADLESS_UA)
    page = client.get(url).content.decode()
    assert 'data-reason="bot"><strong>Bot events filtered out: 1.</strong> The browser' in page


def test_the_snippet_page_has_the_panel_until_events_arrive(owner_client):
    client, owner = owner_client
    website = make_website(owner=owner, domain="localhost")
    url = reverse("dashboard:snippet", args=[website.pk])
    page = client.get(url).content.decode()
    assert "data-waiting-url" in page and "dashboard/waiting.js" in page
    assert "the snippet carries <code>data-allow-localhost</code>" in page
    send(client, website, "http://localhost:8000/")
    page = client.get(url).content.decode()
    assert "data-waiting-url" not in page and "dashboard/waiting.js" not in page
    status = client.get(reverse("dashboard:status", args=[website.pk]), {"dropped": "1"}).json()
    assert status["receiving"] is True and status["dropped"] == []


def test_another_users_status_is_a_404(owner_client):
    client, _ = owner_client
    website = make_website(domain="shop.example")
    assert client.get(reverse("dashboard:status", args=[website.pk])).status_code == 404


def test_status_without_the_flag_keeps_its_answer(owner_client):
    client, owner = owner_client
    website = make_website(owner=owner, domain="shop.example")
    status = client.get(reverse("dashboard:status", args=[website.pk])).json()
    assert status == {"receiving": False, "first_event_at": None, "events_today": 0}
