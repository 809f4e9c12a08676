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
from tracking.tests import browser_urls

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tracking.tests.browser_urls"),
]

PAGE_GONE = {"pagehide", "visibilitychange:hidden"}


def localhost_website():  # type: ignore[no-untyped-def]
    # An owner without a password: hashing one costs a quarter of a second per test.
    owner = get_user_model().objects.create(username="owner@example.com")
    return make_website(owner=owner, domain="localhost")


def stored(website) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return list(Event.objects.filter(website=website).order_by("id").values_list("type", "path"))


def wait_for_events(website, expected: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
    """Wait until exactly ``expected`` is stored, failing at once on anything else."""

    def probe() -> bool:
        events = stored(website)
        assert events == expected[: len(events)], f"unexpected events {events}"
        return events == expected

    wait_for(probe, f"events {expected}")


def wait_until_page_gone() -> None:
    wait_for(lambda: PAGE_GONE <= set(browser_urls.SINK), f"the page's beacons {PAGE_GONE}")


def no_client_state(context, page, origin: str) -> None:  # type: ignore[no-untyped-def]
    assert context.cookies(origin) == []
    assert page.evaluate("[localStorage.length, sessionStorage.length]") == [0, 0]


@pytest.fixture
def context(browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
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

    reset()
    yield embed
    reset()


def close_tab(page, live_server) -> None:  # type: ignore[no-untyped-def]
    page.close(run_before_unload=True)


def leave_for_another_site(page, live_server) -> None:  # type: ignore[no-untyped-def]
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
    assert [e.engaged_ms for e in events[:3]] == [None, None, None]
    # Only the visible time since going back to /landing counts for its exit.
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
