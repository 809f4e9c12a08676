"""End to end: "exclude my own visits" with the real tracking script in Debian's Chromium.

Opening a page of the site with ``#sa-ignore`` sets a flag in that browser's storage, and
the script then sends nothing from it, on any page, until a page opened with
``#sa-track`` removes the flag. As in ``test_browser``, the host page, the script and
``/api/event`` all come from the live test server (``browser_urls``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simple_analytics.testing import DESKTOP_UA
from simple_analytics.tests.browser import TIMEOUT_S, wait_for
from tracking.models import DropCount
from tracking.tests import browser_urls
from tracking.tests.test_browser import localhost_website, wait_for_events
from tracking.tests.test_browser_events import STUB

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tracking.tests.browser_urls"),
]

FLAG = "localStorage.getItem('sa_ignore')"


@pytest.fixture
def new_context(browser) -> Iterator[Callable[[], Any]]:
    """Browser contexts (each a browser profile of its own), closed at the end."""
    contexts: list[Any] = []

    def make() -> Any:
        ctx = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 1280, "height": 800})
        ctx.set_default_timeout(TIMEOUT_S * 1000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def host_page() -> Iterator[Callable[[str], None]]:
    """Set the snippet the host page embeds; what the server saw starts empty."""

    def reset() -> None:
        browser_urls.PAGE.update(snippet="", body="")
        browser_urls.SINK.clear()
        browser_urls.COLLECTED.clear()
        browser_urls.BODIES.clear()
        browser_urls.FAULTS.update(before=0, after=0)

    reset()
    yield lambda snippet: browser_urls.PAGE.update(snippet=snippet)
    reset()


def snippet(live_server, website, build: str) -> str:
    """The stub (docs/TRACKER.md) and the script tag."""
    return (
        f"<script>{STUB}</script>"
        f'<script defer src="{live_server.url}/{build}" data-site="{website.tracking_id}" '
        "data-allow-localhost></script>"
    )


def open_page(context, url: str, errors: list[Any]) -> Any:
    """A new tab on ``url``, once its pixel.js has run (defer scripts run before load)."""
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(exc))
    with page.expect_response(lambda r: "/pixel" in r.url):
        page.goto(url)
    return page


def close_and_wait(page) -> None:
    """Close the tab and wait for its control beacons (sent after anything the tracker
    sends on pagehide), so that nothing the tab sent can still be on its way."""
    before = browser_urls.SINK.count("pagehide")
    page.close(run_before_unload=True)
    wait_for(lambda: browser_urls.SINK.count("pagehide") > before, "the tab's pagehide beacon")


@pytest.mark.parametrize("build", ["pixel.js", "pixel.full.js"])
def test_the_ignore_link_silences_this_browser_until_the_track_link(
    live_server, new_context, host_page, build
):
    website = localhost_website()
    host_page(snippet(live_server, website, build))
    context = new_context()
    errors: list[Any] = []

    # The link sets the flag: nothing is sent, not even the exit or a navigation.
    page = open_page(context, f"{live_server.url}/landing#sa-ignore", errors)
    assert page.evaluate(FLAG) == "1"
    page.click("#push")
    page.click("#back")
    page.wait_for_function("location.pathname == '/landing'")
    # The stub stays: a call waits in its queue, as where the script does not run at all.
    assert page.evaluate("sa('event', 'Signup'), sa.q.length") == 1
    close_and_wait(page)
    # Any page, later, without the fragment: still nothing.
    page = open_page(context, f"{live_server.url}/pricing", errors)
    close_and_wait(page)
    assert browser_urls.COLLECTED == []

    # The other link removes the flag: that page and the next are tracked again.
    page = open_page(context, f"{live_server.url}/landing#sa-track", errors)
    assert page.evaluate(f"[{FLAG}, localStorage.length]") == [None, 0]
    wait_for_events(website, [("PAGE_VIEW", "/landing")])
    close_and_wait(page)
    tracked = [("PAGE_VIEW", "/landing"), ("PAGE_EXIT", "/landing")]
    wait_for_events(website, tracked)
    page = open_page(context, f"{live_server.url}/pricing", errors)
    wait_for_events(website, [*tracked, ("PAGE_VIEW", "/pricing")])
    assert errors == []
    assert DropCount.objects.count() == 0


def test_the_flag_belongs_to_one_browser(live_server, new_context, host_page):
    website = localhost_website()
    host_page(snippet(live_server, website, "pixel.js"))
    errors: list[Any] = []
    mine = open_page(new_context(), f"{live_server.url}/landing#sa-ignore", errors)
    close_and_wait(mine)
    # Another browser (profile) has no flag: its visit counts.
    theirs = open_page(new_context(), f"{live_server.url}/landing", errors)
    assert theirs.evaluate(FLAG) is None
    wait_for_events(website, [("PAGE_VIEW", "/landing")])
    # The collecting view notes a request once its answer is back: after the commit.
    wait_for(lambda: browser_urls.COLLECTED, "the collecting view's note")
    assert [kind for kind, _ in browser_urls.COLLECTED] == ["PAGE_VIEW"]
    assert errors == []


def test_a_browser_whose_storage_throws_is_tracked_and_the_page_sees_no_error(
    live_server, new_context, host_page
):
    """Blocked storage (cookies blocked, some private modes) throws on access: there is no
    switch then, and the script goes on as usual."""
    website = localhost_website()
    host_page(snippet(live_server, website, "pixel.js"))
    context = new_context()
    context.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() {"
        " throw new DOMException('The operation is insecure.', 'SecurityError'); }})"
    )
    errors: list[Any] = []
    page = open_page(context, f"{live_server.url}/landing#sa-ignore", errors)
    assert (
        page.evaluate(
            "() => { try { localStorage; return 'readable'; } catch { return 'throws'; } }"
        )
        == "throws"
    )
    wait_for_events(website, [("PAGE_VIEW", "/landing")])
    assert errors == []
