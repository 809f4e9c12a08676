"""Events answered 2xx but never stored, each counted with its reason: Do Not Track /
Global Privacy Control, referrer spam, exits without a page view, and page views over the
per-session cap."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import override_settings

from simple_analytics.testing import DESKTOP_UA, make_website, record_events, site_of
from tracking import pipeline
from tracking.models import DropCount, DropReason, Event, Session
from tracking.payload import from_dict
from tracking.writer import write_events

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def post(client, body: dict, **headers: str):
    return client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        **headers,
    )


def body(website, type_: str = "PAGE_VIEW", path: str = "/", **extra) -> dict:
    return {
        "site": website.tracking_id,
        "type": type_,
        "url": f"https://example.com{path}",
        **extra,
    }


def drops(website) -> dict[str, int]:
    return dict(DropCount.objects.filter(website=website).values_list("reason", "count"))


# --- Do Not Track / Global Privacy Control --------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"HTTP_SEC_GPC": "1"}, {"HTTP_DNT": "1"}, {"HTTP_DNT": "1", "HTTP_SEC_GPC": "1"}],
    ids=["sec-gpc", "dnt", "both"],
)
def test_a_visitor_asking_not_to_be_tracked_is_answered_2xx_and_not_stored(client, headers):
    website = make_website()
    response = post(client, body(website), **headers)
    assert response.status_code == 202
    assert response.content == b""
    assert (Event.objects.count(), Session.objects.count()) == (0, 0)
    assert drops(website) == {"do_not_track": 1}


@pytest.mark.parametrize(
    "headers", [{}, {"HTTP_DNT": "0"}, {"HTTP_SEC_GPC": "0"}, {"HTTP_DNT": "unspecified"}]
)
def test_without_the_signal_the_event_is_stored(client, headers):
    website = make_website()
    assert post(client, body(website), **headers).status_code == 202
    assert Event.objects.count() == 1
    assert drops(website) == {}


@override_settings(HONOR_DNT=False)
def test_an_operator_may_choose_not_to_honour_dnt(client):
    website = make_website()
    post(client, body(website), HTTP_DNT="1", HTTP_SEC_GPC="1")
    assert Event.objects.count() == 1
    assert drops(website) == {}


@pytest.mark.django_db(transaction=True)
def test_the_wsgi_fast_path_honours_sec_gpc_too():
    from tracking.tests.test_collect import _wsgi

    website = make_website()
    data = json.dumps(body(website)).encode()
    status, _, out = _wsgi("POST", data, HTTP_SEC_GPC="1")
    assert (status, out) == ("202 Accepted", b"")
    assert Event.objects.count() == 0
    assert drops(website) == {"do_not_track": 1}


# --- referrer spam ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "referrer",
    [
        "https://semalt.com/",
        "http://www.semalt.com/crawler?x=1",
        "https://a.b.semalt.com/",  # any subdomain
        "https://DARODAR.COM/",
        "https://ilovevitaly.ru/path",
    ],
)
def test_referrer_spam_is_answered_2xx_not_stored_and_counted(client, referrer):
    website = make_website()
    assert post(client, body(website, referrer=referrer)).status_code == 202
    assert (Event.objects.count(), Session.objects.count()) == (0, 0)
    assert drops(website) == {"referrer_spam": 1}


@pytest.mark.parametrize(
    "referrer, source",
    [
        ("https://notsemalt.com/", "notsemalt.com"),  # a suffix of the name, not a subdomain
        ("https://semalt.com.example.org/", "semalt.com.example.org"),
        ("https://mysite.ucoz.ru/", "mysite.ucoz.ru"),  # a host on a shared domain, kept
        ("https://www.google.com/", "Google"),
    ],
)
def test_look_alike_and_shared_domains_are_not_spam(client, referrer, source):
    website = make_website()
    post(client, body(website, referrer=referrer))
    assert Session.objects.get().source == source
    assert drops(website) == {}


# --- a PAGE_EXIT without a page view ------------------------------------------------------


def test_an_exit_without_a_page_view_creates_no_visitor(client):
    website = make_website()
    response = post(client, body(website, "PAGE_EXIT", engaged_ms=900))
    assert response.status_code == 202
    assert (Event.objects.count(), Session.objects.count()) == (0, 0)
    assert drops(website) == {"exit_without_session": 1}
    # The page view that follows starts the visit as a fresh bounce without an exit.
    post(client, body(website))
    session = Session.objects.get()
    assert (session.pageviews, session.has_exit, session.is_bounce) == (1, False, True)
    assert Event.objects.get().type == "PAGE_VIEW"


# --- page views per session per minute ---------------------------------------------------


def spa(at: dt.datetime, path: str) -> dict:
    return {"type": "PATH_CHANGE", "url": f"https://example.com{path}", "at": at}


def test_a_storm_of_path_changes_is_capped_per_session_and_minute():
    website = make_website()
    storm = [{"type": "PAGE_VIEW", "url": "https://example.com/", "at": T0}]
    storm += [spa(T0 + dt.timedelta(seconds=i / 2), f"/p{i % 2}") for i in range(1, 100)]
    result = record_events(website, storm)
    assert result.stored == 60  # the page view and 59 navigations in the first minute
    assert result.dropped == 40
    assert drops(website) == {"rate_limited": 40}
    session = Session.objects.get()
    assert session.pageviews == 60
    # An exit is not a page view: it still closes the visit.
    record_events(
        website,
        [
            {
                "type": "PAGE_EXIT",
                "url": "https://example.com/p1",
                "engaged_ms": 5,
                "at": T0 + dt.timedelta(seconds=55),
            }
        ],
    )
    # The next minute of the session accepts page views again.
    record_events(website, [spa(T0 + dt.timedelta(seconds=60), "/later")])
    session.refresh_from_db()
    assert (session.pageviews, session.exit_path, session.has_exit) == (61, "/later", True)
    assert Event.objects.count() == 62


def test_the_cap_holds_within_one_group_commit():
    website = make_website()
    site = site_of(website)
    events = [
        pipeline.run(
            from_dict(body(website, "PATH_CHANGE" if i else "PAGE_VIEW", f"/p{i}")),
            site=site,
            ip="198.51.100.40",
            user_agent=DESKTOP_UA,
            at=T0 + dt.timedelta(milliseconds=10 * i),
        )
        for i in range(75)
    ]
    result = write_events(events)
    assert (result.stored, result.dropped_by_reason) == (60, {"rate_limited": 15})
    # In time order: the first 60 are kept.
    assert result.stored_flags == [True] * 60 + [False] * 15
    assert Session.objects.get().exit_path == "/p59"


@override_settings(INGEST_SESSION_PAGEVIEWS_PER_MINUTE=5)
def test_the_cap_is_configurable_and_answered_2xx(client):
    website = make_website()
    answers = [post(client, body(website, "PATH_CHANGE", f"/p{i}")).status_code for i in range(8)]
    assert answers == [202] * 8
    assert Session.objects.get().pageviews == 5
    assert drops(website) == {"rate_limited": 3}


def test_normal_browsing_is_far_below_the_cap():
    website = make_website()
    visit = [spa(T0 + dt.timedelta(seconds=3 * i), f"/article/{i}") for i in range(40)]
    visit[0]["type"] = "PAGE_VIEW"
    assert record_events(website, visit).stored == 40
    assert drops(website) == {}


def test_every_drop_reason_has_a_readable_label():
    labels = dict(DropReason.choices)
    assert set(labels) == {
        "bot",
        "exit_without_session",
        "duplicate",
        "rate_limited",
        "referrer_spam",
        "do_not_track",
        "foreign_host",
        "excluded_ip",
        "excluded_path",
    }
    for value, label in labels.items():
        assert label[0].isupper() and "_" not in label, (value, label)


def test_the_dashboard_lists_each_reason_that_happened_with_its_label(client):
    from django.urls import reverse

    from simple_analytics.testing import make_user

    owner = make_user()
    website = make_website(owner=owner)
    post(client, body(website))
    post(client, body(website, referrer="https://semalt.com/"))
    post(client, body(website, referrer="https://semalt.com/"))
    post(client, body(website), HTTP_SEC_GPC="1")
    client.force_login(owner)
    response = client.get(reverse("dashboard:overview", args=[website.pk]), {"period": "today"})
    assert response.status_code == 200
    assert response.context["quality"]["other_drops"] == [
        {"label": "Visitors asking not to be tracked (DNT / GPC)", "count": "1"},
        {"label": "Referrer spam filtered out", "count": "2"},
    ]
    html = response.content.decode()
    assert "<dt>Referrer spam filtered out</dt><dd>2</dd>" in html
    assert "Retried events already stored" not in html  # none happened: not listed
