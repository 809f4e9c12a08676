"""Engagement reports: validation, attribution to the page view left, one count per view,
and the metrics they add up to (time on page, scroll depth, engaged time per visit)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from simple_analytics.testing import make_website, record_events
from stats import queries
from stats.periods import for_days
from tracking.models import Event, Session
from tracking.payload import InvalidPayload, from_dict
from tracking.tests.test_sessions import leave, spa, view

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)


def body(type_: str = "PAGE_EXIT", **fields):
    return {"site": "s", "type": type_, "url": "https://example.com/", **fields}


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 50, 100, 50.0])
@pytest.mark.parametrize("type_", ["PATH_CHANGE", "PAGE_EXIT"])
def test_a_whole_scroll_percentage_is_accepted_where_a_page_is_left(type_, value):
    assert from_dict(body(type_, scroll_pct=value)).scroll_pct == int(value)


@pytest.mark.parametrize("value", [-1, 101, 50.5, "50", True, float("nan"), 1e300, [], {}])
def test_any_other_scroll_value_is_refused_naming_the_field(value):
    with pytest.raises(InvalidPayload) as exc:
        from_dict(json.loads(json.dumps(body(scroll_pct=value), allow_nan=True)))
    assert exc.value.status == 400
    assert "scroll_pct must be a whole number from 0 to 100" == exc.value.message


@pytest.mark.parametrize("type_", ["PAGE_VIEW", "EVENT"])
def test_a_scroll_depth_on_an_event_that_leaves_no_page_is_refused(type_):
    extra = {"name": "Signup"} if type_ == "EVENT" else {}
    with pytest.raises(InvalidPayload, match="scroll_pct is only accepted with type"):
        from_dict(body(type_, scroll_pct=10, **extra))


@pytest.mark.django_db
def test_the_collect_endpoint_answers_400_for_a_bad_depth(client):
    website = make_website()
    response = client.post(
        "/api/event",
        json.dumps(
            {
                "site": website.tracking_id,
                "type": "PAGE_EXIT",
                "url": f"https://{website.domain}/",
                "scroll_pct": 140,
            }
        ),
        content_type="text/plain",
    )
    assert response.status_code == 400
    assert "scroll_pct" in response.json()["error"]


# --- attribution --------------------------------------------------------------------------


def reports(website):
    rows = Event.objects.filter(website=website).order_by("created_at", "id")
    return [
        (e.type, e.path, e.engaged_ms, e.scroll_pct, e.engaged_view, e.engaged_path) for e in rows
    ]


@pytest.mark.django_db
def test_a_path_change_reports_the_route_it_leaves():
    website = make_website()
    record_events(
        website,
        [
            view(T0, "/a"),
            spa(T0 + 10 * S, "/b", engaged_ms=9000, scroll_pct=60),
            leave(T0 + 20 * S, "/b", engaged_ms=8000, scroll_pct=30),
        ],
    )
    assert reports(website) == [
        ("PAGE_VIEW", "/a", None, None, None, None),
        ("PATH_CHANGE", "/b", 9000, 60, True, "/a"),
        ("PAGE_EXIT", "/b", 8000, 30, True, None),
    ]
    assert Session.objects.get().engaged_ms == 17_000


@pytest.mark.django_db
def test_a_view_reported_again_adds_its_time_and_the_depth_gained_but_no_view():
    website = make_website()
    record_events(
        website,
        [
            view(T0, "/a"),
            leave(T0 + 10 * S, "/a", engaged_ms=4000, scroll_pct=40),  # hidden
            leave(T0 + 60 * S, "/a", engaged_ms=3000, scroll_pct=35),  # shown, hidden again
            spa(T0 + 90 * S, "/b", engaged_ms=2000, scroll_pct=70),  # shown, left
        ],
    )
    assert [r[2:] for r in reports(website)[1:]] == [
        (4000, 40, True, None),
        (3000, 0, False, None),
        (2000, 30, False, "/a"),
    ]
    row = pages(website)["/a"]
    assert (row.pageviews, row.engaged_views, row.scroll_views) == (1, 1, 1)
    assert row.time_on_page_s == 9.0
    assert row.scroll_depth_pct == 70.0
    assert pages(website)["/b"].time_on_page_s is None


@pytest.mark.django_db
def test_an_exit_beacon_overtaken_by_the_next_pages_view_reports_its_own_page():
    website = make_website()
    record_events(
        website,
        [
            view(T0, "/a"),
            view(T0 + 10 * S, "/b"),  # the next page's view arrived first
            leave(T0 + 10 * S + dt.timedelta(milliseconds=5), "/a", engaged_ms=9000),
            leave(T0 + 30 * S, "/b", engaged_ms=5000, scroll_pct=20),
        ],
    )
    assert [(r[1], r[4], r[5]) for r in reports(website)[2:]] == [
        ("/a", True, None),
        ("/b", True, None),
    ]
    found = pages(website)
    assert (found["/a"].time_on_page_s, found["/b"].time_on_page_s) == (9.0, 5.0)


@pytest.mark.django_db
def test_a_report_that_starts_a_visit_has_no_view_to_count_for():
    website = make_website()
    record_events(
        website,
        [view(T0, "/a"), spa(T0 + dt.timedelta(minutes=45), "/b", engaged_ms=2_700_000)],
    )
    assert reports(website)[1] == ("PATH_CHANGE", "/b", None, None, None, None)
    assert [s.engaged_ms for s in Session.objects.order_by("started_at")] == [None, None]


# --- metrics ------------------------------------------------------------------------------


def period(website):
    day = T0.date()
    return for_days(day, day, website.tz)


def pages(website) -> dict[str, queries.Row]:
    rows = queries.breakdown(website, period(website), "pages", limit=None)
    return {r.value: r for r in rows}


@pytest.mark.django_db
def test_time_on_page_counts_only_the_views_that_reported_and_says_which_share_did():
    website = make_website()
    record_events(
        website,
        [
            view(T0, "/a"),
            leave(T0 + 10 * S, "/a", engaged_ms=10_000, scroll_pct=50),
            view(T0 + 20 * S, "/a", ip="198.51.100.2"),  # no report: an older script
            view(T0 + 30 * S, "/a", ip="198.51.100.3"),
            leave(T0 + 40 * S, "/a", engaged_ms=20_000, scroll_pct=100, ip="198.51.100.3"),
        ],
    )
    row = pages(website)["/a"]
    assert (row.pageviews, row.engaged_views) == (3, 2)
    assert row.time_on_page_s == 15.0
    assert row.scroll_depth_pct == 75.0
    assert row.engaged_share == pytest.approx(2 / 3)
    summary = queries.summary(website, period(website))
    assert summary.avg_engaged_time_s == 10.0  # 30 s over three visits
    item = queries.stats_json(website, period(website))["pages"][0]
    assert (item["time_on_page_s"], item["scroll_depth_pct"]) == (15.0, 75.0)
