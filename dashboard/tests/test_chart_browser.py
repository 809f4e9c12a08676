"""The chart's options in Chromium: pick bounce rate, weeks and the previous period with the
controls (plain links), then the dashed overlay has one point per week and the read-out
shows this period's value beside the compared one; in dark mode and on a 390 px phone."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

from simple_analytics.testing import make_user, make_website, record_events
from simple_analytics.tests.browser import Watcher, sign_in
from stats import intervals
from stats.periods import for_days

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAYS = 28


@pytest.fixture
def site(live_server) -> tuple[Any, dt.date, dt.date]:
    """Every day of the last 56 days (two periods of 28): a bounce and a visit of two pages,
    so every week of both periods has a bounce rate of 50 %."""
    website = make_website(owner=make_user(), domain="example.com", timezone="Europe/Berlin")
    today = dt.datetime.now(website.tz).date()
    last = today - dt.timedelta(days=1)
    first = last - dt.timedelta(days=DAYS - 1)
    events = []
    for k in range(2 * DAYS):
        at = dt.datetime.combine(first - dt.timedelta(days=DAYS - k), dt.time(12), website.tz)
        events += [
            {"type": "PAGE_VIEW", "url": "https://example.com/", "at": at},
            {"type": "PAGE_VIEW", "url": "https://example.com/", "at": at, "ip": "198.51.100.2"},
            {
                "type": "PATH_CHANGE",
                "url": "https://example.com/pricing",
                "at": at + dt.timedelta(seconds=30),
                "ip": "198.51.100.2",
            },
        ]
    record_events(website, events)
    return website, first, last


def open_dashboard(new_context: Callable[..., Any], base: str, site: Any, **options: Any) -> Any:
    website, first, last = site
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = new_context(**options)
    sign_in(context, base, website.owner)
    page = context.new_page()
    page.goto(f"{base}/websites/{website.pk}/?period=custom&from={first}&to={last}")
    return page


def pick(page: Any, group: str, label: str) -> None:
    """Click a chart control (a plain link: a full page load) and wait for its page."""
    link = page.locator(f"a[data-chart-{group}]", has_text=label)
    with page.expect_navigation():
        link.click()
    assert page.locator(f"a[data-chart-{group}][aria-current]").inner_text() == label


def test_bounce_rate_by_week_against_the_previous_period(live_server, new_context, site):
    watcher = Watcher()
    page = open_dashboard(new_context, live_server.url, site)
    watcher.attach(page)
    assert page.locator(".chart-svg .c-line").count() == 0
    pick(page, "metric", "Bounce rate")
    pick(page, "interval", "Weeks")
    pick(page, "compare", "Previous period")
    assert re.search(r"metric=bounce_rate", page.url) and "interval=week" in page.url
    assert "compare=previous" in page.url

    website, first, last = site
    weeks = len(intervals.spans(for_days(first, last, website.tz), "week"))
    overlay = page.locator(".chart-svg path.c-line")
    assert overlay.count() == 1
    d = overlay.get_attribute("d")
    assert len(re.findall(r"[ML]", d)) == weeks == int(overlay.get_attribute("data-points"))
    dash = overlay.evaluate("p => getComputedStyle(p).strokeDasharray")
    assert dash not in ("", "none")
    assert page.locator("#chart-title").inner_text() == "Bounce rate"
    assert page.locator(".legend .lg-compare").inner_text() == "Previous period"
    label = page.locator(".chart-svg").get_attribute("aria-label")
    assert "bounce rate 50%" in label and "dashed line: compared with" in label

    # Hover the second week: the read-out shows this period and the compared one.
    box = page.locator(".chart-svg").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 1.5 / weeks, box["y"] + box["height"] / 2)
    tip = page.locator("[data-chart-tip]")
    tip.wait_for(state="visible")
    assert tip.locator(".tip-now strong").inner_text() == "50%"
    assert tip.locator(".tip-then strong").inner_text() == "50%"
    when = tip.locator("[data-tip-then-label]").inner_text()
    assert re.fullmatch(r"\d+(–| \w+ – )\d+ \w+ \d{4}", when), when
    assert "This period" in tip.inner_text() and "Compared" in tip.inner_text()
    assert page.locator("[data-dot-then]").is_visible()
    watcher.assert_clean(page, "dashboard with a compared chart")


def test_the_overlay_and_controls_in_dark_mode_on_a_phone(live_server, new_context, site):
    page = open_dashboard(
        new_context,
        live_server.url,
        site,
        viewport={"width": 390, "height": 844},
        color_scheme="dark",
    )
    website, first, last = site
    page.goto(
        f"{live_server.url}/websites/{website.pk}/?period=custom&from={first}&to={last}"
        "&metric=visit_duration&interval=week&compare=previous"
    )
    stroke = page.locator(".chart-svg .c-line").evaluate("p => getComputedStyle(p).stroke")
    assert stroke == "rgb(253, 186, 116)"
    # Nothing wider than the phone: the controls wrap.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    controls = page.locator(".chart-controls").bounding_box()
    assert controls["x"] >= 0 and controls["x"] + controls["width"] <= 390
    current = page.locator(".chart-controls a[aria-current]")
    assert current.all_inner_texts() == ["Visit duration", "Weeks", "Previous period"]
    colour = current.first.evaluate("a => getComputedStyle(a).backgroundColor")
    assert colour != "rgba(0, 0, 0, 0)"
