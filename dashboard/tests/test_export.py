"""CSV export: the dashboard's numbers for its period and filters, owner only, read through
the stats query layer, with formula cells neutralised."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from unittest import mock
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from dashboard.export import COLUMNS, neutralise
from goals.models import GoalKind
from goals.services import goal_create
from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from stats import queries
from stats.dimensions import BREAKDOWNS
from stats.queries import EventRow, GoalRow, Row, Summary

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}
# UTM values a visitor controls, each a formula to a spreadsheet.
FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)"]
# The columns of the conversions, empty in the rows of the summary and the breakdowns, and
# what every row counts: the period, the time zone, the filters (none here).
BLANK = {"events": "", "conversion_rate": "", "event": "", "property": ""}
WHAT = {"from": "2026-01-15", "to": "2026-01-15", "timezone": "UTC", "filters": ""}
ENGAGEMENT = {"time_on_page_s": "", "scroll_depth_pct": "", "avg_engaged_time_s": ""}
BLANK = {**BLANK, **WHAT, **ENGAGEMENT}


@pytest.fixture
def website(owner):
    website = make_website(owner=owner)
    url = "https://example.com"
    events = [
        {"type": "PAGE_VIEW", "url": f"{url}/", "at": D, "referrer": "https://www.google.com/"},
        {"type": "PATH_CHANGE", "url": f"{url}/pricing", "at": D + 60 * S},
        {
            "type": "PAGE_VIEW",
            "url": f"{url}/",
            "at": D + 5 * S,
            "ip": "198.51.100.2",
            "user_agent": IPHONE_UA,
        },
    ]
    for n, formula in enumerate(FORMULAS):
        query = urlencode({"utm_source": formula, "utm_campaign": formula})
        events.append(
            {
                "type": "PAGE_VIEW",
                "url": f"{url}/landing?{query}",
                "at": D + n * S,
                "ip": f"198.51.100.{10 + n}",
            }
        )
    record_events(website, events)
    return website


def export(client: Client, website, **query):
    return client.get(reverse("dashboard:export", args=[website.pk]), query)


def table(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_owner_downloads_every_breakdown_of_the_period(owner, website):
    response = export(logged_in(owner), website, **DAY)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="example.com-2026-01-15-2026-01-15-UTC.csv"'
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    rows = table(response)
    assert list(rows[0]) == COLUMNS
    assert COLUMNS[:5] == ["dimension", "value", "visitors", "sessions", "pageviews"]
    assert rows[0] == {
        "dimension": "total",
        "value": "",
        "visitors": "6",
        "sessions": "6",
        "pageviews": "7",
        **BLANK,
        "avg_engaged_time_s": "0.0",
    }
    pages = {r["value"]: r for r in rows if r["dimension"] == "pages"}
    assert pages["/"] == {
        "dimension": "pages",
        "value": "/",
        "visitors": "2",
        "sessions": "",
        "pageviews": "2",
        **BLANK,
    }
    assert pages["/landing"]["pageviews"] == "4"
    dimensions = {r["dimension"] for r in rows}
    assert dimensions <= {"total", "timeseries", *BREAKDOWNS}
    # One day: the chart's hours, in the website's time zone, summing to the total.
    series = [r for r in rows if r["dimension"] == "timeseries"]
    assert [r["value"] for r in series][:2] == ["2026-01-15T00:00+00:00", "2026-01-15T01:00+00:00"]
    assert len(series) == 24
    assert sum(int(r["pageviews"]) for r in series) == 7
    assert {
        "pages",
        "entry_pages",
        "exit_pages",
        "sources",
        "utm_sources",
        "utm_campaigns",
        "browsers",
        "os",
        "devices",
    } <= dimensions
    devices = {r["value"]: r["sessions"] for r in rows if r["dimension"] == "devices"}
    assert devices == {"desktop": "5", "mobile": "1"}
    sources = {r["value"] for r in rows if r["dimension"] == "sources"}
    assert "Google" in sources and "(none)" in sources  # direct traffic, as the filter says it


def test_period_and_filters_apply_as_on_the_dashboard(owner, website):
    client = logged_in(owner)
    other_day = table(
        export(client, website, period="custom", **{"from": "2026-01-16", "to": "2026-01-16"})
    )
    assert other_day[0]["pageviews"] == "0"
    # An empty day: its 24 hours in the series (all zero) and no breakdown row.
    assert {r["dimension"] for r in other_day} == {"total", "timeseries"}
    assert {r["pageviews"] for r in other_day} == {"0"}
    mobile = table(export(client, website, device="mobile", **DAY))
    assert mobile[0]["sessions"] == "1"
    assert {r["value"] for r in mobile if r["dimension"] == "pages"} == {"/"}


def test_formula_cells_are_neutralised(owner, website):
    rows = table(export(logged_in(owner), website, **DAY))
    cells = {r["value"] for r in rows if r["dimension"] in ("utm_sources", "utm_campaigns")}
    assert cells == {"'" + f for f in FORMULAS}
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_gets_an_apostrophe(first):
    assert neutralise(first + "1") == "'" + first + "1"


@pytest.mark.parametrize("cell", ["/", "Google", "1=1", "a-b", "", "'quoted", " =x"])
def test_other_cells_are_left_alone(cell):
    assert neutralise(cell) == cell


def test_the_numbers_come_from_the_stats_query_layer(owner, website):
    """The view formats; ``stats.queries`` answers (the caching and snapshots live there)."""
    summary = Summary(
        pageviews=11, visitors=7, sessions=9, bounces=0, duration_s=0, session_pageviews=11, exits=0
    )
    with (
        mock.patch.object(queries, "summary", return_value=summary) as summary_mock,
        mock.patch.object(queries, "breakdown", return_value=[Row("=x", 3, 5, 4)]) as rows_mock,
        mock.patch.object(queries, "goals", return_value=[GoalRow("=g", 2, 3, 0.25)]),
        mock.patch.object(queries, "events", return_value=[EventRow("=e", 2, 4)]),
        mock.patch.object(queries, "properties", return_value=[("=k", "=v", 1, 2)]) as props,
    ):
        rows = table(export(logged_in(owner), website, **DAY))
    assert rows[0] == {
        "dimension": "total",
        "value": "",
        "visitors": "7",
        "sessions": "9",
        "pageviews": "11",
        **BLANK,
        "avg_engaged_time_s": "0.0",
    }
    series = [r for r in rows if r["dimension"] == "timeseries"]
    assert len(series) == 24  # one day by the hour, from queries.timeseries (not mocked)
    assert len(rows) == 1 + len(series) + len(BREAKDOWNS) + 3
    breakdowns = rows[1 + len(series) : 1 + len(series) + len(BREAKDOWNS)]
    assert {r["value"] for r in breakdowns} == {"'=x"}
    assert rows[-3:] == [
        {
            **rows[-3],
            "dimension": "goals",
            "value": "'=g",
            "events": "3",
            "conversion_rate": "0.25",
        },
        {**rows[-2], "dimension": "events", "value": "'=e", "visitors": "2", "events": "4"},
        {**rows[-1], "dimension": "properties", "value": "'=v", "event": "'=e", "property": "'=k"},
    ]
    assert summary_mock.call_count == 1
    assert [c.args[2] for c in rows_mock.call_args_list] == list(BREAKDOWNS)
    assert [c.args[2] for c in props.call_args_list] == ["=e"]


def test_only_the_owner_can_export(owner, website):
    other = logged_in(make_user())
    missing = reverse("dashboard:export", args=[website.pk + 1000])
    a = export(other, website, **DAY)
    b = other.get(missing, DAY)
    assert a.status_code == b.status_code == 404
    token = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert token.sub(b"", a.content) == token.sub(b"", b.content)
    assert b"/landing" not in a.content and b"text/csv" not in a["Content-Type"].encode()
    # A bad query string is not looked at before access.
    assert export(other, website, period="bogus").status_code == 404
    anonymous = export(Client(), website, **DAY)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("account_login"))


def test_a_bad_query_is_a_400_that_says_why(owner, website):
    response = export(logged_in(owner), website, period="bogus")
    assert response.status_code == 400
    assert b"period must be one of" in response.content.lower()


def test_the_dashboard_links_to_the_export_of_what_it_shows(owner, website):
    client = logged_in(owner)
    query = {**DAY, "device": "mobile"}
    page = client.get(reverse("dashboard:overview", args=[website.pk]), query)
    href = (
        f"{reverse('dashboard:export', args=[website.pk])}?period=custom&from=2026-01-15"
        f"&to=2026-01-15&device=mobile"
    )
    assert f'href="{escape(href)}"'.encode() in page.content
    # Without data there is nothing to export yet, and no link.
    empty = make_website(owner=owner, domain="empty.example")
    page = client.get(reverse("dashboard:overview", args=[empty.pk]))
    assert b"data-export" not in page.content


@pytest.fixture
def conversions(website):
    """Two sign-ups (plans pro and free) and a download on the 15th; three goals."""
    url = "https://example.com"
    record_events(
        website,
        [
            {
                "type": "EVENT",
                "url": f"{url}/pricing",
                "at": D + 10 * S,
                "name": "Signup",
                "props": {"plan": "pro", "seats": 3},
            },
            {
                "type": "EVENT",
                "url": f"{url}/",
                "at": D + 20 * S,
                "ip": "198.51.100.2",
                "user_agent": IPHONE_UA,
                "name": "Signup",
                "props": {"plan": "free"},
            },
            {
                "type": "EVENT",
                "url": f"{url}/",
                "at": D + 30 * S,
                "ip": "198.51.100.10",
                "name": "=cmd|' /C calc'!A0",
                "props": {"@file": "-report.pdf"},
            },
        ],
    )
    goal_create(website=website, kind=GoalKind.EVENT, event_name="Signup")
    goal_create(website=website, kind=GoalKind.PAGE, page_pattern="/pricing")
    goal_create(website=website, kind=GoalKind.EVENT, event_name="Never")
    return website


def test_goals_events_and_property_values_have_their_rows(owner, conversions):
    rows = table(export(logged_in(owner), conversions, **DAY))
    goals = {r["value"]: r for r in rows if r["dimension"] == "goals"}
    # Six visitors: the four campaign visitors, the first one (also on /pricing) and the phone.
    assert goals["Signup"] == {
        "dimension": "goals",
        "value": "Signup",
        "visitors": "2",
        "sessions": "",
        "pageviews": "",
        "events": "2",
        "conversion_rate": "0.3333",
        "event": "",
        "property": "",
        **WHAT,
        **ENGAGEMENT,
    }
    assert (goals["Visit /pricing"]["visitors"], goals["Visit /pricing"]["events"]) == ("1", "1")
    assert (goals["Never"]["visitors"], goals["Never"]["conversion_rate"]) == ("0", "0.0")
    events = {r["value"]: (r["visitors"], r["events"]) for r in rows if r["dimension"] == "events"}
    assert events == {"Signup": ("2", "2"), "'=cmd|' /C calc'!A0": ("1", "1")}
    props = {
        (r["event"], r["property"], r["value"]): (r["visitors"], r["events"])
        for r in rows
        if r["dimension"] == "properties"
    }
    assert props == {
        ("Signup", "plan", "free"): ("1", "1"),
        ("Signup", "plan", "pro"): ("1", "1"),
        ("Signup", "seats", "3"): ("1", "1"),
        ("'=cmd|' /C calc'!A0", "'@file", "'-report.pdf"): ("1", "1"),
    }
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_the_conversion_rows_follow_the_filters(owner, conversions):
    rows = table(export(logged_in(owner), conversions, device="mobile", **DAY))
    events = {r["value"]: r["visitors"] for r in rows if r["dimension"] == "events"}
    assert events == {"Signup": "1"}
    props = {(r["property"], r["value"]) for r in rows if r["dimension"] == "properties"}
    assert props == {("plan", "free")}
    goals = {r["value"]: r["conversion_rate"] for r in rows if r["dimension"] == "goals"}
    assert goals["Signup"] == "1.0"


def test_the_file_says_its_period_time_zone_and_filters(owner):
    website = make_website(owner=owner, timezone="Europe/Berlin")
    record_events(website, [{"type": "PAGE_VIEW", "url": "https://example.com/a", "at": D}])
    query = {"period": "custom", "from": "2026-01-01", "to": "2026-01-31", "page": "/a"}
    response = export(logged_in(owner), website, **query)
    assert response["Content-Disposition"] == (
        'attachment; filename="example.com-2026-01-01-2026-01-31-Europe-Berlin-page-_a.csv"'
    )
    rows = table(response)
    assert {(r["from"], r["to"], r["timezone"], r["filters"]) for r in rows} == {
        ("2026-01-01", "2026-01-31", "Europe/Berlin", "page=%2Fa")
    }
    series = {r["value"]: r["pageviews"] for r in rows if r["dimension"] == "timeseries"}
    assert len(series) == 31 and series["2026-01-15"] == "1" and series["2026-01-16"] == "0"


def test_the_file_name_says_the_operators(owner):
    website = make_website(owner=owner)
    query = {"period": "7d", "source": "!Google|Bing", "page": "~blog"}
    response = export(logged_in(owner), website, **query)
    name = response["Content-Disposition"].split('filename="')[1].rstrip('"')
    assert name.endswith("-page-contains-blog-source-not-Google-or-Bing.csv")
    assert {r["filters"] for r in table(response)} == {"page=~blog&source=%21Google%7CBing"}
