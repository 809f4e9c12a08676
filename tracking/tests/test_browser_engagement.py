"""End to end: per-page engagement (time on page, scroll depth) from the real ``pixel.js``
in Debian's Chromium, through the live test server's ingestion, to the stats.

Headless Chromium keeps every tab visible and focused, so the background-tab test emulates
visibility in the page (``VISIBILITY``: the document's ``hidden``, ``visibilityState`` and
``hasFocus`` follow a switch, and a real unload still reads as hidden); the script, its
requests and the server are the real ones. The back/forward cache test uses a Chromium
started without Playwright's ``--disable-back-forward-cache``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from simple_analytics.testing import DESKTOP_UA
from simple_analytics.tests.browser import CHROMIUM_ARGS, TIMEOUT_S, wait_for
from stats import queries
from stats.periods import for_days
from tracking.models import Event, Session
from tracking.tests import browser_urls
from tracking.tests.test_browser import (
    localhost_website,
    snippet,
    wait_for_events,
    wait_until_page_gone,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tracking.tests.browser_urls"),
]

VISIBILITY = """
(() => {
  const doc = Document.prototype;
  const realHidden = Object.getOwnPropertyDescriptor(doc, "hidden").get;
  let hidden = %s;
  const isHidden = function () { return hidden || realHidden.call(this); };
  Object.defineProperty(doc, "hidden", { get: isHidden, configurable: true });
  Object.defineProperty(doc, "visibilityState", {
    get() { return isHidden.call(this) ? "hidden" : "visible"; }, configurable: true
  });
  doc.hasFocus = function () { return !isHidden.call(this); };
  window.__setHidden = (value) => {
    hidden = value;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""
# Date.now() counts whole milliseconds: two readings may differ by one more than the time.
CLOCK_MS = 2
# The deepest scroll as pixel.js measures it, in the page.
DEPTH = "Math.floor(100 * (scrollY + innerHeight) / document.documentElement.scrollHeight)"


@pytest.fixture
def host_page() -> Iterator[None]:
    def reset() -> None:
        browser_urls.PAGE.update(snippet="", body="")
        browser_urls.SINK.clear()
        browser_urls.COLLECTED.clear()
        browser_urls.BODIES.clear()

    reset()
    yield
    reset()


def new_context(browser: Any, *, start_hidden: bool | None = None) -> Any:
    ctx = browser.new_context(user_agent=DESKTOP_UA, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(TIMEOUT_S * 1000)
    if start_hidden is not None:
        ctx.add_init_script(VISIBILITY % ("true" if start_hidden else "false"))
    return ctx


def reports(website) -> list[tuple[str, str, int | None, int | None, bool | None, str | None]]:
    rows = Event.objects.filter(website=website).order_by("id")
    return [
        (e.type, e.path, e.engaged_ms, e.scroll_pct, e.engaged_view, e.engaged_path) for e in rows
    ]


def wait_for_unordered(website, expected: list[tuple[str, str]]) -> None:
    def probe() -> bool:
        found = sorted((kind, path) for kind, path, *_ in reports(website))
        return found == sorted(expected)

    wait_for(probe, f"events {expected}")


def scroll_to(page, y: int) -> None:
    """Scroll, and wait until the page has handled the scroll event."""
    page.evaluate(
        "y => new Promise(done => { addEventListener('scroll', () => done(), {once: true}); "
        "scrollTo(0, y); if (scrollY === y && y === 0) done(); })",
        y,
    )


def pages_today(website) -> dict[str, queries.Row]:
    today = dt.datetime.now(website.tz).date()
    period = for_days(today - dt.timedelta(days=1), today + dt.timedelta(days=1), website.tz)
    return {r.value: r for r in queries.breakdown(website, period, "pages", limit=None)}


def test_a_long_page_scrolled_halfway_reports_half_its_depth_and_its_visible_time(
    live_server, browser, host_page
):
    website = localhost_website()
    browser_urls.PAGE["snippet"] = snippet(live_server, website)
    browser_urls.PAGE["body"] = '<div id="filler" style="height: 12000px"></div>'
    ctx = new_context(browser)
    page = ctx.new_page()
    opened = time.monotonic()
    page.goto(f"{live_server.url}/article")
    wait_for_events(website, [("PAGE_VIEW", "/article")])
    height = page.evaluate("document.documentElement.scrollHeight")
    scroll_to(page, height // 2 - 800)
    half = page.evaluate(DEPTH)
    assert half in (49, 50)
    # Back to the top: the deepest position counts, not the last one.
    scroll_to(page, 0)
    page.wait_for_timeout(200)
    page.close(run_before_unload=True)
    wait_for_events(website, [("PAGE_VIEW", "/article"), ("PAGE_EXIT", "/article")])
    wall_ms = (time.monotonic() - opened) * 1000
    wait_until_page_gone()
    ctx.close()

    (_, _, engaged, depth, first, path) = reports(website)[1]
    assert (depth, first, path) == (half, True, None)
    assert 200 - CLOCK_MS <= engaged <= wall_ms + CLOCK_MS
    assert [kind for kind, _ in browser_urls.COLLECTED] == ["PAGE_VIEW", "PAGE_EXIT"]
    row = pages_today(website)["/article"]
    assert row.scroll_depth_pct == half
    assert row.time_on_page_s == pytest.approx(engaged / 1000)
    assert row.engaged_share == 1


def test_an_spa_with_three_routes_reports_each_route_when_it_is_left(
    live_server, browser, host_page
):
    website = localhost_website()
    browser_urls.PAGE["snippet"] = snippet(live_server, website)
    browser_urls.PAGE["body"] = '<div id="filler" style="height: 6000px"></div>'
    ctx = new_context(browser)
    page = ctx.new_page()
    started = time.monotonic()
    page.goto(f"{live_server.url}/a")
    wait_for_events(website, [("PAGE_VIEW", "/a")])
    height = page.evaluate("document.documentElement.scrollHeight")
    scroll_to(page, height // 2 - 800)
    depth_a = page.evaluate(DEPTH)
    page.wait_for_timeout(150)
    # The router changes the path first, then draws the route (here: a short one).
    page.evaluate("history.pushState({}, '', '/b')")
    page.evaluate("filler.style.height = '100px'")
    wait_for_events(website, [("PAGE_VIEW", "/a"), ("PATH_CHANGE", "/b")])
    page.wait_for_timeout(150)
    page.evaluate("history.pushState({}, '', '/c')")
    page.evaluate("filler.style.height = '20000px'; scrollTo(0, 0)")
    depth_c = page.evaluate(DEPTH)
    three = [("PAGE_VIEW", "/a"), ("PATH_CHANGE", "/b"), ("PATH_CHANGE", "/c")]
    wait_for_events(website, three)
    page.wait_for_timeout(150)
    page.close(run_before_unload=True)
    wait_for_events(website, [*three, ("PAGE_EXIT", "/c")])
    wall_ms = (time.monotonic() - started) * 1000
    wait_until_page_gone()
    ctx.close()

    found = reports(website)
    # Each route is reported once, by the event that leaves it.
    assert [(kind, path, depth, first, left) for kind, path, _, depth, first, left in found] == [
        ("PAGE_VIEW", "/a", None, None, None),
        ("PATH_CHANGE", "/b", depth_a, True, "/a"),
        ("PATH_CHANGE", "/c", 100, True, "/b"),
        ("PAGE_EXIT", "/c", depth_c, True, None),
    ]
    engaged = [ms for _, _, ms, *_ in found[1:]]
    assert all(ms is not None and ms >= 150 - CLOCK_MS for ms in engaged)
    assert sum(e or 0 for e in engaged) <= wall_ms + CLOCK_MS
    assert [kind for kind, _ in browser_urls.COLLECTED] == [e[0] for e in found]
    rows = pages_today(website)
    assert {p: rows[p].scroll_depth_pct for p in ("/a", "/b", "/c")} == {
        "/a": depth_a,
        "/b": 100,
        "/c": depth_c,
    }
    assert Session.objects.get().engaged_ms == sum(e or 0 for e in engaged)


def test_a_background_tab_counts_only_its_visible_time_once(live_server, browser, host_page):
    website = localhost_website()
    browser_urls.PAGE["snippet"] = snippet(live_server, website)
    ctx = new_context(browser, start_hidden=True)
    page = ctx.new_page()
    page.goto(f"{live_server.url}/later")  # opened in the background
    wait_for_events(website, [("PAGE_VIEW", "/later")])
    page.wait_for_timeout(600)  # unseen: not engaged

    shown = time.monotonic()
    page.evaluate("__setHidden(false)")
    page.wait_for_timeout(300)
    page.evaluate("__setHidden(true)")  # another tab: the page reports what it has
    first_ms = (time.monotonic() - shown) * 1000
    two = [("PAGE_VIEW", "/later"), ("PAGE_EXIT", "/later")]
    wait_for_events(website, two)
    page.wait_for_timeout(400)  # hidden again: not engaged

    shown = time.monotonic()
    page.evaluate("__setHidden(false)")
    page.wait_for_timeout(200)
    page.close(run_before_unload=True)
    wait_for_events(website, [*two, ("PAGE_EXIT", "/later")])
    second_ms = (time.monotonic() - shown) * 1000
    wait_for(lambda: "pagehide" in browser_urls.SINK, "the page's pagehide beacon")
    ctx.close()

    _, first, second = reports(website)
    # Only the new time on the second report, and it does not count the view again.
    assert first[4:] == (True, None) and 300 - CLOCK_MS <= first[2] <= first_ms + CLOCK_MS
    assert second[4:] == (False, None)
    assert 200 - CLOCK_MS <= second[2] <= second_ms + CLOCK_MS
    assert second[3] == 0  # no deeper than its first report
    assert [kind for kind, _ in browser_urls.COLLECTED] == ["PAGE_VIEW", "PAGE_EXIT", "PAGE_EXIT"]
    row = pages_today(website)["/later"]
    assert (row.pageviews, row.engaged_views) == (1, 1)
    assert row.time_on_page_s == pytest.approx((first[2] + second[2]) / 1000)
    assert Session.objects.get().engaged_ms == first[2] + second[2]


@pytest.fixture
def bfcache_browser(browser) -> Iterator[Any]:
    """Chromium as ``browser`` is, but with its back/forward cache on."""
    chromium = browser.browser_type.launch(
        executable_path=shutil.which("chromium"),
        args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    yield chromium
    chromium.close()


def test_a_page_restored_from_the_back_forward_cache_is_a_new_view_with_its_own_report(
    live_server, bfcache_browser, host_page
):
    website = localhost_website()
    browser_urls.PAGE["snippet"] = snippet(live_server, website)
    browser_urls.PAGE["body"] = (
        "<script>addEventListener('pageshow', e => { window.__restored = e.persisted; });</script>"
    )
    ctx = new_context(bfcache_browser)
    page = ctx.new_page()
    page.goto(f"{live_server.url}/list")
    wait_for_events(website, [("PAGE_VIEW", "/list")])
    page.wait_for_timeout(150)
    page.goto(f"{live_server.url}/item")
    # A beacon and the next page's view may arrive in either order.
    left = [("PAGE_VIEW", "/list"), ("PAGE_EXIT", "/list"), ("PAGE_VIEW", "/item")]
    wait_for_unordered(website, left)
    page.wait_for_timeout(150)
    restored = time.monotonic()
    page.go_back(wait_until="commit")  # a restored page fires no load event
    # Times out when the page was loaded anew instead of restored from the cache.
    page.wait_for_function("window.__restored === true")
    back = [*left, ("PAGE_EXIT", "/item"), ("PAGE_VIEW", "/list")]
    wait_for_unordered(website, back)
    page.wait_for_timeout(150)
    page.close(run_before_unload=True)
    wait_for_unordered(website, [*back, ("PAGE_EXIT", "/list")])
    wall_ms = (time.monotonic() - restored) * 1000
    ctx.close()

    found = reports(website)
    exits = [r for r in found if r[0] == "PAGE_EXIT"]
    # Every view reports once, the restored one from its restore on: nothing twice.
    assert [(path, first) for _, path, _, _, first, _ in exits] == [
        ("/list", True),
        ("/item", True),
        ("/list", True),
    ]
    assert 150 - CLOCK_MS <= exits[2][2] <= wall_ms + CLOCK_MS
    row = pages_today(website)["/list"]
    assert (row.pageviews, row.engaged_views) == (2, 2)
