"""The polish of issue 15 in Chromium: help popovers close on Escape and on a click outside
and cover nothing; the live pill keeps its label across the realtime refresh; times are the
website's, 24-hour and labelled, whatever the browser's zone; dark mode follows the system
setting and the toggle (remembered, applied before the first frame); and every page fits a
390 px phone in both themes."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from dashboard import views
from dashboard.tests.test_live_browser import ingest
from simple_analytics.testing import make_user, make_website, record_events
from simple_analytics.tests.browser import Watcher, sign_in, wait_for
from simple_analytics.tests.routes import all_routes, category, make_world, urls

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
SITE_TZ = "Asia/Kolkata"  # +05:30: no browser zone below shares its clock
LIGHT_BG, DARK_BG = "rgb(246, 247, 251)", "rgb(15, 18, 24)"
LIGHT_CARD, DARK_CARD = "rgb(255, 255, 255)", "rgb(24, 28, 37)"


@pytest.fixture
def site(live_server) -> Any:
    owner = make_user()
    website = make_website(owner=owner, domain="example.com", timezone=SITE_TZ)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": "https://example.com/", "at": now},
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/pricing",
                "at": now,
                "ip": "198.51.100.2",
            },
        ],
    )
    return website


def open_dashboard(
    new_context: Callable[..., Any], base: str, website: Any, query: str, **options: Any
) -> Any:
    options.setdefault("viewport", DESKTOP)
    context = new_context(**options)
    sign_in(context, base, website.owner)
    page = context.new_page()
    page.goto(f"{base}/websites/{website.pk}/?{query}")
    return page


def box(page: Any, selector: str) -> dict[str, float]:
    return page.locator(selector).first.bounding_box()


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440px", "390px"])
def test_help_popovers_close_on_escape_and_outside_clicks_and_cover_nothing(
    live_server, new_context, site, viewport
):
    watcher = Watcher()
    page = open_dashboard(new_context, live_server.url, site, "period=today", viewport=viewport)
    watcher.attach(page)
    infos = page.locator(".kpi details.info")
    assert infos.count() == 7
    first, second = infos.nth(0), infos.nth(1)

    first.locator("summary").click()
    assert first.evaluate("d => d.open")
    pop = first.locator(".info-pop")
    assert pop.is_visible()
    # In its own card, clear of the chart title and of every other card's numbers.
    card = page.locator(".kpi").nth(0).bounding_box()
    pop_box = pop.bounding_box()
    assert (
        card["y"] <= pop_box["y"] and pop_box["y"] + pop_box["height"] <= card["y"] + card["height"]
    )
    assert not overlaps(pop_box, box(page, "#chart-title"))
    for i in range(1, 7):
        assert not overlaps(pop_box, page.locator(".kpi .kpi-value").nth(i).bounding_box())

    # Escape closes it and gives the focus back to its "?".
    page.keyboard.press("Escape")
    assert not first.evaluate("d => d.open")
    assert first.locator("summary").evaluate("s => s === document.activeElement")

    # A click outside closes it, and that click still lands where it was aimed.
    first.locator("summary").click()
    page.locator("#tab-entry_pages").click()
    assert not first.evaluate("d => d.open")
    assert page.locator("#tab-entry_pages").get_attribute("aria-selected") == "true"

    # One at a time.
    first.locator("summary").click()
    second.locator("summary").click()
    assert second.evaluate("d => d.open") and not first.evaluate("d => d.open")
    watcher.assert_clean(page, "dashboard with popovers")


def test_the_realtime_refresh_keeps_the_pill_label_and_the_site_clock(
    live_server, new_context, site, monkeypatch
):
    monkeypatch.setattr(views, "UPDATE_POLL_S", 1)
    base = live_server.url
    watcher = Watcher()
    # A browser in another zone, with a 12-hour locale: neither may show through.
    page = open_dashboard(
        new_context,
        base,
        site,
        "period=realtime",
        timezone_id="America/Los_Angeles",
        locale="en-US",
    )
    watcher.attach(page)
    pill = page.locator("[data-live-text]")
    assert pill.inner_text().strip() == "2 current visitors"
    page.evaluate("document.getElementById('dash-main').dataset.before = '1'")

    # A new visitor: the realtime view swaps its content at the next poll.
    assert ingest(base, site, 7, "/realtime") == 202
    wait_for(
        lambda: page.evaluate("!document.getElementById('dash-main').dataset.before"),
        "the realtime view's refresh",
    )
    assert pill.inner_text().strip() == "3 current visitors"
    assert page.locator("[data-live-count]").inner_text() == "3"
    assert "/realtime" in page.locator("#tp-pages .bar-label").all_text_contents()

    status = page.locator("[data-status]").inner_text()
    found = re.fullmatch(
        r"Updated (\d\d:\d\d):\d\d \(Asia/Kolkata\) · refreshes every 15 s", status
    )
    assert found, status
    assert near_site_clock(found[1]), status
    # The realtime range ends now, on the same clock.
    assert near_site_clock(page.locator("[data-range-text]").inner_text().split("–")[1])
    watcher.assert_clean(page, "realtime after its refresh")


def near_site_clock(hh_mm: str) -> bool:
    """``HH:MM`` is the website's time now (give or take a minute), not the browser's."""
    now = dt.datetime.now(ZoneInfo(SITE_TZ))
    return hh_mm in {(now + dt.timedelta(minutes=m)).strftime("%H:%M") for m in (-1, 0, 1)}


def colours(page: Any) -> tuple[str, str]:
    return tuple(
        page.evaluate(
            """() => [getComputedStyle(document.documentElement).backgroundColor,
                  getComputedStyle(document.querySelector('.kpi')).backgroundColor]"""
        )
    )


@pytest.mark.parametrize(
    "scheme, expected", [("light", (LIGHT_BG, LIGHT_CARD)), ("dark", (DARK_BG, DARK_CARD))]
)
def test_the_theme_follows_the_system_setting(live_server, new_context, site, scheme, expected):
    page = open_dashboard(new_context, live_server.url, site, "period=today", color_scheme=scheme)
    assert colours(page) == expected
    assert page.locator("[data-theme-label]").inner_text() == "System"
    # The chart takes the palette too: its base line, and the visitors line in the accent.
    base, line = page.evaluate(
        """() => [getComputedStyle(document.querySelector('.chart-svg .grid line')).stroke,
                  getComputedStyle(document.querySelector('.chart-svg .v-line')).stroke]"""
    )
    assert (base, line) == (
        ("rgb(220, 223, 231)", "rgb(79, 70, 229)")
        if scheme == "light"
        else ("rgb(52, 58, 74)", "rgb(141, 149, 255)")
    )


# Runs before the page's scripts: what the first frame shows.
FIRST_FRAME = """
requestAnimationFrame(() => {
  window.__firstFrame = getComputedStyle(document.documentElement).backgroundColor;
});
"""


def test_the_toggle_overrides_the_system_and_is_remembered_without_a_flash(
    live_server, new_context, site
):
    watcher = Watcher()
    page = open_dashboard(new_context, live_server.url, site, "period=today", color_scheme="light")
    watcher.attach(page)
    page.add_init_script(FIRST_FRAME)
    toggle = page.locator("[data-theme-toggle]")
    assert toggle.is_visible()
    toggle.click()
    assert page.locator("[data-theme-label]").inner_text() == "Light"
    toggle.click()
    assert page.locator("[data-theme-label]").inner_text() == "Dark"
    assert colours(page) == (DARK_BG, DARK_CARD)

    # Remembered across pages, and applied before the first frame.
    page.goto(f"{live_server.url}/websites/")
    assert page.evaluate("window.__firstFrame") == DARK_BG
    assert page.locator("[data-theme-label]").inner_text() == "Dark"

    # Back to the system setting (light here).
    page.locator("[data-theme-toggle]").click()
    assert page.locator("[data-theme-label]").inner_text() == "System"
    assert page.evaluate("document.documentElement.dataset.theme") is None
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == LIGHT_BG
    watcher.assert_clean(page, "theme toggle")


def html_pages(client: Client, world: Any) -> list[str]:
    """Every page of the project a signed-in owner can open: walked from the URL
    resolver, kept when a GET answers 200 with HTML."""
    found = []
    for route in all_routes():
        if category(route) not in ("login", "owned") or route.name is None:
            continue
        url, _ = urls(route, world)
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            found.append(url)
    return sorted(set(found))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_fits_a_390px_phone_in_both_themes(live_server, new_context, scheme):
    world = make_world()
    client = Client()
    client.force_login(world.owner)
    pages = html_pages(client, world)
    dashboard = f"/websites/{world.website.pk}/"
    assert dashboard in pages and len(pages) > 10, pages
    pages += [
        f"{dashboard}?period=today",
        f"{dashboard}?period=realtime",
        f"{dashboard}?period=12m",
    ]

    base = live_server.url
    watcher = Watcher()
    anonymous = watcher.attach(
        new_context(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme).new_page()
    )
    for url in ("/accounts/login/", "/accounts/signup/"):
        anonymous.goto(f"{base}{url}")
        assert_fits(anonymous, url)
    context = new_context(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme)
    sign_in(context, base, world.owner)
    page = watcher.attach(context.new_page())
    for url in pages:
        page.goto(f"{base}{url}")
        assert_fits(page, url)
        # Not assert_clean: allauth's pages carry a JSON <script> it would count as injected.
        assert page.evaluate("window.__cspViolations") == [], url
        assert watcher.page_errors == watcher.console_errors == watcher.csp_console == [], url


def assert_fits(page: Any, url: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{url}: {width} px wide on a {PHONE['width']} px phone"
