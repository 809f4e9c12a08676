"""live.json: current visitors of the last 5 minutes, and whether the site has any data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import make_user, make_website, record_events

pytestmark = pytest.mark.django_db


def live(client, website):
    return client.get(reverse("dashboard:live", args=[website.pk]))


def test_it_counts_visitors_of_the_last_five_minutes():
    owner = make_user()
    website = make_website(owner=owner)
    client = Client()
    client.force_login(owner)
    assert live(client, website).json() == {"current_visitors": 0, "has_data": False}
    now = dt.datetime.now(dt.UTC)
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "at": now - dt.timedelta(minutes=1)},
            {"type": "PAGE_VIEW", "at": now - dt.timedelta(minutes=2), "ip": "198.51.100.2"},
            # Gone for 20 minutes: not current any more.
            {"type": "PAGE_VIEW", "at": now - dt.timedelta(minutes=20), "ip": "198.51.100.3"},
        ],
    )
    response = live(client, website)
    assert response.status_code == 200
    assert response.json() == {"current_visitors": 2, "has_data": True}
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_it_is_for_the_owner_only():
    owner, other = make_user(), make_user()
    website = make_website(owner=owner)
    client = Client()
    client.force_login(other)
    assert live(client, website).status_code == 404
    anonymous = live(Client(), website)
    assert anonymous.status_code == 302 and reverse("account_login") in anonymous["Location"]


def test_it_only_answers_reads():
    owner = make_user()
    website = make_website(owner=owner)
    client = Client()
    client.force_login(owner)
    response = client.post(reverse("dashboard:live", args=[website.pk]))
    assert response.status_code == 405
