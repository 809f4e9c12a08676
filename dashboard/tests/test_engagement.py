"""Engagement on the dashboard: the engaged-time card, the Top pages columns, the details
view's sortable time and depth columns, and the CSV's engagement columns."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils.html import escape

from dashboard.presenters import DEFINITIONS
from simple_analytics.testing import record_events

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}


def ev(type_, path, at, ip="198.51.100.1", **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, "ip": ip, **extra}


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def engaged(website):
    """/docs read for 2 min 30 s to 80%, /pricing for 10 s to 20%; /blog never reported."""
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/docs", D),
            ev("PATH_CHANGE", "/pricing", D + 200 * S, engaged_ms=150_000, scroll_pct=80),
            ev("PAGE_EXIT", "/pricing", D + 215 * S, engaged_ms=10_000, scroll_pct=20),
            ev("PAGE_VIEW", "/blog", D, ip="198.51.100.2"),
        ],
    )
    return website


def test_the_top_pages_show_time_on_page_and_scroll_depth(client, engaged):
    response = client.get(reverse("dashboard:overview", args=[engaged.pk]), DAY)
    panel = next(p for p in response.context["panels"] if p.key == "pages")
    pages_tab = next(t for t in panel.tabs if t.key == "pages")
    assert pages_tab.engagement
    shown = {r.value: (r.time_on_page, r.scroll_depth) for r in pages_tab.rows}
    assert shown == {"/docs": ("2m 30s", "80%"), "/pricing": ("10s", "20%"), "/blog": ("—", "—")}
    assert not any(t.engagement for t in panel.tabs if t.key != "pages")
    html = response.content.decode()
    assert f'<abbr title="{escape(DEFINITIONS["time_on_page"])}">Time</abbr>' in html
    card = next(c for c in response.context["cards"] if c.key == "engaged")
    # 160 s over two visits, shown beside the visit duration with its definition.
    assert (card.value, card.help) == ("1m 20s", DEFINITIONS["engaged"])
    keys = [c.key for c in response.context["cards"]]
    assert keys.index("engaged") == keys.index("duration") + 1


def test_the_details_view_sorts_by_time_on_page_and_by_scroll_depth(client, engaged):
    url = reverse("dashboard:details", args=[engaged.pk, "pages"])
    by_time = client.get(url, {**DAY, "sort": "time"}).context["table"]
    assert [r.value for r in by_time.rows] == ["/docs", "/pricing", "/blog"]
    assert dict((k, v) for k, v, _ in by_time.rows[0].cells)["reported"] == "100%"
    by_depth = client.get(url, {**DAY, "sort": "scroll", "dir": "asc"}).context["table"]
    assert [r.value for r in by_depth.rows] == ["/blog", "/pricing", "/docs"]
    assert [dict((k, v) for k, v, _ in r.cells)["scroll"] for r in by_depth.rows] == [
        "—",
        "20%",
        "80%",
    ]


def test_the_csv_has_each_pages_engagement_and_the_engaged_time_per_visit(client, engaged):
    response = client.get(reverse("dashboard:export", args=[engaged.pk]), DAY)
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    total = next(r for r in rows if r["dimension"] == "total")
    assert total["avg_engaged_time_s"] == "80.0"
    pages = {r["value"]: r for r in rows if r["dimension"] == "pages"}
    assert (pages["/docs"]["time_on_page_s"], pages["/docs"]["scroll_depth_pct"]) == (
        "150.0",
        "80.0",
    )
    assert (pages["/blog"]["time_on_page_s"], pages["/blog"]["scroll_depth_pct"]) == ("", "")
    entry = next(r for r in rows if r["dimension"] == "entry_pages")
    assert entry["time_on_page_s"] == ""
