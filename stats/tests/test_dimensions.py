"""The dimension registry, walked: every dimension is a model field, a filter, a breakdown,
a snapshot row, an API parameter, a CSV list and (when it has a panel) a dashboard tab, and
its snapshot answers equal the raw ones."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.core.management import call_command

from api.openapi import document
from dashboard import presenters
from rollups.models import Granularity, SnapshotRow
from simple_analytics.testing import (
    IPHONE_UA,
    MUNICH_IP,
    city_database,
    make_user,
    make_website,
    record_events,
)
from stats import planner, queries
from stats.dimensions import BREAKDOWNS, BY_BREAKDOWN, BY_NAME, DIMENSIONS, Describes
from stats.filters import NO_FILTERS, Filters
from stats.periods import for_days
from tracking.models import Event, Session

pytestmark = pytest.mark.django_db
DAY = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).replace(
    hour=10, minute=0, second=0, microsecond=0
)
S = dt.timedelta(seconds=1)
NAMES = [d.name for d in DIMENSIONS]
# What the first visit's request says of where it came from, as stored.
PLACED = {
    "country": "DE",
    "region": "DE-BY",
    "city": "Munich",
    "language": "de",
    "screen": "laptop",
}


def test_names_are_unique_and_fit_the_stored_column():
    assert len(set(NAMES)) == len(NAMES)
    assert len(set(BREAKDOWNS)) == len(BREAKDOWNS)
    width = SnapshotRow._meta.get_field("dimension").max_length
    assert all(len(name) <= width for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_dimension_is_a_field_of_what_it_describes(name):
    dimension = BY_NAME[name]
    model = Session if dimension.describes == Describes.SESSIONS else Event
    assert model._meta.get_field(dimension.field)


@pytest.fixture
def traffic(settings, tmp_path):
    settings.GEOIP_DATABASE = city_database(str(tmp_path / "city.mmdb"))
    owner = make_user()
    website = make_website(owner=owner)
    tagged = (
        "https://example.com/a?utm_source=news&utm_medium=email&utm_campaign=spring"
        "&utm_content=banner&utm_term=shoes"
    )
    munich = {"ip": MUNICH_IP}
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "url": tagged,
                "referrer": "https://www.google.com/",
                "screen": 1280,
                "at": DAY,
                "ip": MUNICH_IP,
                "accept_language": "de-DE,de;q=0.9,en;q=0.8",
            },
            {"type": "PATH_CHANGE", "url": "https://example.com/b", "at": DAY + 20 * S, **munich},
            {"type": "PAGE_EXIT", "url": "https://example.com/b", "at": DAY + 50 * S, **munich},
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/c",
                "at": DAY + 60 * S,
                "ip": "198.51.100.2",
                "user_agent": IPHONE_UA,
            },
        ],
    )
    period = for_days(DAY.date(), DAY.date(), website.tz)
    with planner.raw_only():
        raw = {b: queries.breakdown(website, period, b, limit=None) for b in BREAKDOWNS}
    call_command("rollup", verbosity=0)
    return owner, website, period, raw


@pytest.mark.parametrize("name", NAMES)
def test_every_dimension_is_broken_down_rolled_up_and_equal_to_raw(traffic, name):
    _, website, period, raw = traffic
    dimension = BY_NAME[name]
    rows = raw[dimension.breakdown]
    assert [r for r in rows if r.value], f"no {name} value recorded"
    if name in PLACED:
        assert rows[0].value == PLACED[name] and rows[0].pageviews == 2
    stored = SnapshotRow.objects.filter(
        website=website, granularity=Granularity.DAY, dimension=name
    ).values_list("value", flat=True)
    assert {r.value for r in rows} <= set(stored)
    assert queries.breakdown(website, period, dimension.breakdown, limit=None) == rows


@pytest.mark.parametrize("name", NAMES)
def test_every_dimension_filters_and_its_snapshot_answer_equals_raw(traffic, name):
    _, website, period, raw = traffic
    dimension = BY_NAME[name]
    row = next(r for r in raw[dimension.breakdown] if r.value)
    filters = Filters.from_query({name: row.value})
    assert filters.active() == {name: row.value}
    summary = queries.summary(website, period, filters=filters)
    with planner.raw_only():
        assert queries.summary(website, period, filters=filters) == summary
    assert 0 < summary.visitors <= queries.summary(website, period).visitors
    if dimension.describes == Describes.SESSIONS:
        # A session filter keeps exactly the sessions of the row that was clicked.
        assert (summary.sessions, summary.visitors) == (row.sessions, row.visitors)
        assert summary.pageviews == row.pageviews


@pytest.mark.parametrize("name", NAMES)
def test_every_dimension_is_in_the_api_the_json_the_csv_and_its_panel(client, traffic, name):
    owner, website, period, _ = traffic
    dimension = BY_NAME[name]
    doc = document()
    stats_params = {p["name"] for p in doc["paths"]["/api/v1/stats"]["get"]["parameters"]}
    assert name in stats_params
    enum = next(
        p["schema"]["enum"]
        for p in doc["paths"]["/api/v1/breakdown/{dimension}"]["get"]["parameters"]
        if p["name"] == "dimension"
    )
    stats = queries.stats_json(website, period)
    assert (dimension.breakdown in enum) == dimension.public
    assert (dimension.breakdown in stats) == dimension.public
    assert (dimension.breakdown in doc["components"]["schemas"]["Stats"]["properties"]) == (
        dimension.public
    )

    client.force_login(owner)
    day = DAY.date().isoformat()
    response = client.get(
        f"/websites/{website.pk}/export.csv", {"period": "custom", "from": day, "to": day}
    )
    listed = {row["dimension"] for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert dimension.breakdown in listed

    tabs = {
        tab.key: tab
        for panel in presenters.panels(website, period, NO_FILTERS, path="/", total_visitors=2)
        for tab in panel.tabs
    }
    assert (dimension.breakdown in tabs) == bool(dimension.panel)
    if dimension.panel:
        assert tabs[dimension.breakdown].rows
        assert BY_BREAKDOWN[tabs[dimension.breakdown].key] is dimension
