"""End to end: the real ``pixel.js`` in Debian's Chromium, against the live test server.

The host page, ``/pixel.js`` and ``/api/event`` are all served by pytest-django's live
server (see ``browser_urls``), so this covers the snippet, the script, posting with
``fetch`` and ``sendBeacon``, the pipeline and the writer together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from simple_analytics.testing import DESKTOP_UA, make_website
from simple_analytics.tests.browser import TIMEOUT_S, wait_for
from tracking.models import DropCount, Event, Session
from tracking.payload import CLIENT_ID
from tracking.tests import browser_urls

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tracking.tests.browser_urls"),
]

PAGE_GONE = {"pagehide", "visibilitychange:hidden"}


def localhost_website():
    # An owner without a password: hashing one costs a quarter of a second per test.
    owner = get_user_model().objects.create(username="owner@example.com")
    return make_website(owner=owner, domain="localhost")


def stored(website) -> list[tuple[str, str]]:
    return list(Event.objects.filter(website=website).order_by("id").values_list("type", "path"))


def wait_for_events(website, expected: list[tuple[str, str]]) -> None:
    """Wait until exactly ``expected`` is stored, failing at once on anything else."""

    def probe() -> bool:
        events = stored(website)
        assert events == expected[: len(events)], f"unexpected events {events}"
        return events == expected

    wait_for(probe, f"events {expected}")


def wait_until_page_gone() -> None:
    wait_for(lambda: PAGE_GONE <= set(browser_urls.SINK), f"the page's beacons {PAGE_GONE}")


def no_client_state(context, page, origin: str) -> None:
    assert context.cookies(origin) == []
    assert page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]


@pytest.fixture
def context(browser) -> Iterator[Any]:
    ctx = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(TIMEOUT_S * 1000)
    yield ctx
    ctx.close()


@pytest.fixture
def host_page() -> Iterator[Callable[[str], None]]:
    """Set the snippet the host page embeds; what the server saw starts empty."""

    def embed(snippet: str) -> None:
        browser_urls.PAGE["snippet"] = snippet

    def reset() -> None:
        browser_urls.PAGE["snippet"] = ""
        browser_urls.SINK.clear()
        browser_urls.COLLECTED.clear()
        browser_urls.BODIES.clear()
        browser_urls.FAULTS.update(before=0, after=0)

    reset()
    yield embed
    reset()


def close_tab(page, live_server) -> None:
    page.close(run_before_unload=True)


def leave_for_another_site(page, live_server) -> None:
    page.goto(live_server.url.replace("//localhost:", "//127.0.0.1:") + "/healthz")


@pytest.mark.parametrize("leave", [close_tab, leave_for_another_site], ids=lambda f: f.__name__)
def test_an_spa_visit_is_one_session_with_views_path_changes_and_exit(
    live_server, context, host_page, leave
):
    website = localhost_website()
    host_page(
        f'<script defer src="{live_server.url}/pixel.js" data-site="{website.tracking_id}" '
        "data-allow-localhost></script>"
    )
    page = context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda exc: errors.append(exc))

    page.goto(f"{live_server.url}/landing?utm_source=newsletter&utm_campaign=launch")
    wait_for_events(website, [("PAGE_VIEW", "/landing")])

    page.click("#push")  # history.pushState -> PATH_CHANGE
    assert page.evaluate("location.pathname + location.search") == "/pricing"
    wait_for_events(website, [("PAGE_VIEW", "/landing"), ("PATH_CHANGE", "/pricing")])

    back_at = time.monotonic()
    page.click("#back")  # history.back() -> popstate -> PATH_CHANGE
    three = [("PAGE_VIEW", "/landing"), ("PATH_CHANGE", "/pricing"), ("PATH_CHANGE", "/landing")]
    wait_for_events(website, three)

    no_client_state(context, page, live_server.url)
    screen_width = page.evaluate("screen.width")
    # Engaged time is what PAGE_EXIT reports: stay visibly on the page for a moment.
    dwell_ms = 150
    page.wait_for_timeout(dwell_ms)
    leave(page, live_server)  # pagehide + visibilitychange; the beacon outlives the page
    wait_for_events(website, [*three, ("PAGE_EXIT", "/landing")])
    since_back_ms = (time.monotonic() - back_at) * 1000
    wait_until_page_gone()

    assert errors == []
    # One request per event, all accepted: no second exit from the visibilitychange.
    assert browser_urls.COLLECTED == [
        ("PAGE_VIEW", 202),
        ("PATH_CHANGE", 202),
        ("PATH_CHANGE", 202),
        ("PAGE_EXIT", 202),
    ]
    assert stored(website) == [*three, ("PAGE_EXIT", "/landing")]
    session = Session.objects.get()
    events = list(Event.objects.filter(website=website).order_by("id"))
    assert {e.session_id for e in events} == {session.id}
    # Each path change reports the route it leaves; the exit the route it ends on, with
    # only the visible time since going back to /landing.
    assert [e.engaged_ms is None for e in events] == [True, False, False, False]
    assert [e.engaged_path for e in events] == [None, "/landing", "/pricing", None]
    assert [e.engaged_view for e in events] == [None, True, True, True]
    assert dwell_ms <= events[3].engaged_ms <= since_back_ms
    assert (session.entry_path, session.exit_path) == ("/landing", "/landing")
    assert (session.utm_source, session.utm_medium, session.utm_campaign) == (
        "newsletter",
        "",
        "launch",
    )
    assert (session.source, session.referrer_host) == ("newsletter", "")
    assert (session.browser, session.os, session.device) == ("Chrome", "Windows", "desktop")
    assert session.screen == screen_width
    assert session.pageviews == 3
    assert session.is_bounce is False
    assert session.has_exit is True
    assert DropCount.objects.count() == 0


@pytest.mark.parametrize(
    "case", ["no data-site", "localhost without data-allow-localhost", "navigator.webdriver"]
)
def test_the_script_sends_nothing_and_stays_silent_when_it_must_not_track(
    live_server, context, host_page, case
):
    website = localhost_website()
    attrs = {
        "no data-site": "data-allow-localhost",
        "localhost without data-allow-localhost": f'data-site="{website.tracking_id}"',
        "navigator.webdriver": f'data-site="{website.tracking_id}" data-allow-localhost',
    }[case]
    host_page(f'<script defer src="{live_server.url}/pixel.js" {attrs}></script>')
    if case == "navigator.webdriver":
        context.add_init_script(
            "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => true})"
        )
    page = context.new_page()
    errors: list[Any] = []
    page.on("pageerror", lambda exc: errors.append(exc))
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    with page.expect_response(lambda r: r.url.endswith("/pixel.js")) as script:
        page.goto(f"{live_server.url}/landing?utm_source=newsletter")
    assert script.value.status == 200
    # goto waits for load, and defer scripts run before DOMContentLoaded: pixel.js ran.
    page.click("#push")
    page.click("#back")
    page.wait_for_function("location.pathname == '/landing'")
    no_client_state(context, page, live_server.url)
    page.close(run_before_unload=True)
    wait_until_page_gone()

    assert browser_urls.COLLECTED == []
    assert errors == []
    assert console_errors == []
    assert (Event.objects.count(), Session.objects.count(), DropCount.objects.count()) == (0, 0, 0)


def snippet(live_server, website) -> str:
    return (
        f'<script defer src="{live_server.url}/pixel.js" data-site="{website.tracking_id}" '
        "data-allow-localhost></script>"
    )


@pytest.mark.parametrize("fault", ["before", "after"], ids=["not-stored", "stored-answer-lost"])
def test_a_failed_send_is_retried_with_the_same_id_and_stored_once(
    live_server, context, host_page, fault
):
    """The server answers 503 to the first PAGE_VIEW, either without storing it or after
    storing it (the answer was lost): the script sends the same body again, and the event
    is stored exactly once either way."""
    website = localhost_website()
    host_page(snippet(live_server, website))
    browser_urls.FAULTS[fault] = 1
    page = context.new_page()
    page.goto(f"{live_server.url}/landing")
    wait_for(lambda: len(browser_urls.COLLECTED) >= 2, "the retry", timeout=TIMEOUT_S + 5)
    assert browser_urls.COLLECTED[:2] == [("PAGE_VIEW", 503), ("PAGE_VIEW", 202)]
    first, retry = browser_urls.BODIES[:2]
    assert first == retry  # the same body, so the same id
    assert stored(website) == [("PAGE_VIEW", "/landing")]
    duplicates = DropCount.objects.filter(reason="duplicate").values_list("count", flat=True)
    assert list(duplicates) == ([1] if fault == "after" else [])
    # The queue goes on after a retry: a navigation is sent and stored as usual.
    page.click("#push")
    wait_for_events(website, [("PAGE_VIEW", "/landing"), ("PATH_CHANGE", "/pricing")])


def test_a_navigation_storm_sends_at_most_30_path_changes_and_each_event_has_its_own_id(
    live_server, context, host_page
):
    website = localhost_website()
    host_page(snippet(live_server, website))
    page = context.new_page()
    page.goto(f"{live_server.url}/landing")
    wait_for_events(website, [("PAGE_VIEW", "/landing")])
    # Same path, new query or state: not a navigation.
    page.evaluate("history.replaceState({n: 1}, '', location.pathname + '?tab=2')")
    page.evaluate("history.pushState({n: 2}, '', location.pathname + '#x')")
    # A router stuck in a loop between two paths.
    page.evaluate("for (let i = 0; i < 200; i++) history.pushState({}, '', i % 2 ? '/a' : '/b')")
    expected = [("PAGE_VIEW", "/landing")] + [("PATH_CHANGE", "/b"), ("PATH_CHANGE", "/a")] * 15
    wait_for_events(website, expected)
    page.close(run_before_unload=True)
    wait_for_events(website, [*expected, ("PAGE_EXIT", "/a")])
    wait_until_page_gone()
    # The exit is stored before its request is noted: wait for the note too.
    wait_for(lambda: len(browser_urls.BODIES) == 32, "32 requests noted")
    sent = [kind for kind, _ in browser_urls.COLLECTED]
    assert sent.count("PATH_CHANGE") == 30
    ids = [body["id"] for body in browser_urls.BODIES]
    assert len(ids) == len(set(ids)) == 32
    assert all(CLIENT_ID.fullmatch(i) for i in ids), ids
    assert DropCount.objects.count() == 0
