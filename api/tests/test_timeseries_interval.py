"""The timeseries endpoint's ``interval`` and its items' bounce rate and visit duration."""

from __future__ import annotations

import datetime as dt

import pytest

from api.models import ApiKey
from api.openapi import document
from simple_analytics.testing import make_user, make_website, record_events

pytestmark = pytest.mark.django_db
MONDAY = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
RANGE = {"from": "2026-03-02", "to": "2026-03-15"}


@pytest.fixture
def site_key():
    owner = make_user()
    website = make_website(owner=owner)
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": "https://example.com/", "at": MONDAY},
            {
                "type": "PAGE_EXIT",
                "url": "https://example.com/",
                "at": MONDAY + dt.timedelta(seconds=30),
            },
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/",
                "at": MONDAY,
                "ip": "198.51.100.9",
            },
            {
                "type": "PATH_CHANGE",
                "url": "https://example.com/b",
                "at": MONDAY + dt.timedelta(seconds=50),
                "ip": "198.51.100.9",
            },
        ],
    )
    _, key = ApiKey.issue(user=owner, name="test")
    return website, key


def get(client, key, **params):
    return client.get("/api/v1/timeseries", params, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_weeks_with_bounce_rate_and_visit_duration(client, site_key):
    website, key = site_key
    data = get(client, key, site=website.tracking_id, interval="week", **RANGE).json()
    assert data["granularity"] == "week"
    assert data["timeseries"] == [
        {
            "t": "2026-03-02T00:00:00+00:00",
            "pageviews": 3,
            "visitors": 2,
            "sessions": 2,
            "bounce_rate": 0.5,
            "visit_duration_s": 40.0,
        },
        {
            "t": "2026-03-09T00:00:00+00:00",
            "pageviews": 0,
            "visitors": 0,
            "sessions": 0,
            "bounce_rate": None,
            "visit_duration_s": None,
        },
    ]


def test_the_default_interval_is_the_periods_granularity(client, site_key):
    website, key = site_key
    data = get(client, key, site=website.tracking_id, **RANGE).json()
    assert data["granularity"] == "day" and len(data["timeseries"]) == 14
    assert data["timeseries"][0]["bounce_rate"] == 0.5


@pytest.mark.parametrize("interval", ["hour", "month", "minute", "fortnight", "", "week\x00"])
def test_an_interval_the_period_does_not_allow_is_a_400(client, site_key, interval):
    website, key = site_key
    response = get(client, key, site=website.tracking_id, interval=interval, **RANGE)
    if interval == "":
        assert response.status_code == 200  # empty: the default, like the other parameters
        return
    assert response.status_code == 400
    assert "interval must be one of day, week" in response.json()["error"]


def test_the_openapi_document_describes_the_interval_and_the_new_fields():
    doc = document()
    params = {p["name"]: p for p in doc["paths"]["/api/v1/timeseries"]["get"]["parameters"]}
    assert params["interval"]["schema"]["enum"] == ["minute", "hour", "day", "week", "month"]
    schemas = doc["components"]["schemas"]
    assert {"bounce_rate", "visit_duration_s"} <= set(schemas["Point"]["required"])
    assert schemas["Timeseries"]["properties"]["granularity"]["enum"][-1] == "month"
