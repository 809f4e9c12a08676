"""Saved segments in Chromium, as the owner uses them: filter by clicking a row, save the
filters as a segment, open the dashboard unfiltered on another period, apply the segment
from the menu, delete it; then the menu on a 390 px phone in dark mode.

Every page is watched for script errors, dialogs and Content-Security-Policy violations.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from dashboard.models import Segment
from simple_analytics.testing import make_user, make_website, record_events
from simple_analytics.tests.browser import Watcher, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-9"
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
LATER = dt.datetime(2026, 1, 20, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = "period=custom&from=2026-01-15&to=2026-01-15"
MONTH = "period=custom&from=2026-01-01&to=2026-01-31"
PHONE = {"width": 390, "height": 844}
NAME = "Pricing readers"


def ev(type_: str, path: str, at: dt.datetime, ip: str) -> dict[str, Any]:
    return {"type": type_, "url": f"https://example.com{path}", "at": at, "ip": ip}


@pytest.fixture
def site() -> Any:
    """On the 15th A reads / then /pricing, B only /; on the 20th C reads /pricing, E /."""
    owner = make_user("owner@example.com", password=PASSWORD)
    website = make_website(owner=owner, domain="example.com")
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/", D, "198.51.100.1"),
            ev("PATH_CHANGE", "/pricing", D + 30 * S, "198.51.100.1"),
            ev("PAGE_VIEW", "/", D, "198.51.100.2"),
            ev("PAGE_VIEW", "/pricing", LATER, "198.51.100.3"),
            ev("PAGE_VIEW", "/", LATER, "198.51.100.4"),
        ],
    )
    return website


def kpi(page: Any, label: str) -> str:
    card = page.locator(".kpi").filter(has=page.locator(".kpi-label", has_text=label))
    return card.locator(".kpi-value").inner_text().strip()


def chips(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".chip .chip-value").all_text_contents()]


def open_menu(page: Any) -> Any:
    menu = page.locator("details.segments")
    menu.locator("> summary").click()
    assert menu.get_attribute("open") is not None
    return menu


def test_save_a_segment_and_apply_it_on_another_period(live_server, new_context, site):
    base = live_server.url
    watcher = Watcher()
    context = new_context()
    page = watcher.attach(context.new_page())
    log_in(page, base, "owner@example.com", PASSWORD)
    dashboard = f"{base}/websites/{site.pk}/"

    # Filter the day by clicking the /pricing row.
    page.goto(f"{dashboard}?{DAY}")
    assert kpi(page, "Unique visitors") == "2"
    page.locator("#tp-pages .bar-row", has_text="/pricing").click()
    page.wait_for_url(re.compile(r"page=%2Fpricing"))
    assert kpi(page, "Unique visitors") == "1"
    assert chips(page) == ["/pricing"]

    # Save it from the menu: back on the same day, the segment applied and marked.
    menu = open_menu(page)
    menu.get_by_label("Save these filters as a segment").fill(f"  {NAME} ")
    menu.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"from=2026-01-15.*page=%2Fpricing"))
    watcher.assert_clean(page, "saved")
    assert f"Saved the segment “{NAME}”." in page.locator(".messages").inner_text()
    assert page.locator("details.segments .seg-current").inner_text() == NAME
    assert list(Segment.objects.values_list("name", "query")) == [(NAME, "page=%2Fpricing")]

    # The month, unfiltered: everyone; then the segment from the menu, on the month.
    page.goto(f"{dashboard}?{MONTH}")
    assert kpi(page, "Unique visitors") == "4"
    assert chips(page) == []
    menu = open_menu(page)
    assert menu.get_by_role("link", name=NAME).get_attribute("aria-current") is None
    menu.get_by_role("link", name=NAME).click()
    page.wait_for_url(re.compile(r"from=2026-01-01&to=2026-01-31&page=%2Fpricing$"))
    watcher.assert_clean(page, "applied on the month")
    assert kpi(page, "Unique visitors") == "2"  # A and C
    assert kpi(page, "Page views") == "2"
    assert chips(page) == ["/pricing"]
    menu = open_menu(page)
    assert menu.get_by_role("link", name=NAME).get_attribute("aria-current") == "true"

    # Delete it: the page keeps its filters, the menu is empty again.
    menu.get_by_role("button", name=f"Delete the segment {NAME}").click()
    page.wait_for_url(re.compile(r"from=2026-01-01.*page=%2Fpricing"))
    watcher.assert_clean(page, "deleted")
    assert f"Deleted the segment “{NAME}”." in page.locator(".messages").inner_text()
    assert chips(page) == ["/pricing"]
    assert not Segment.objects.exists()
    menu = open_menu(page)
    assert menu.locator(".seg-item").count() == 0
    assert menu.get_by_label("Save these filters as a segment").is_visible()

    # A 390 px phone in dark mode: the open menu fits the screen and is not white on dark.
    Segment.objects.create(
        website=site, name="A segment with a rather long name " * 2, query="page=%2F"
    )
    phone = watcher.attach(
        new_context(
            viewport=PHONE,
            storage_state=context.storage_state(),
            is_mobile=True,
            has_touch=True,
            color_scheme="dark",
        ).new_page()
    )
    phone.goto(f"{dashboard}?{MONTH}&page=%2Fpricing")
    open_menu(phone)
    pop = phone.locator(".seg-pop").bounding_box()
    assert pop is not None and pop["x"] >= 0 and pop["x"] + pop["width"] <= PHONE["width"], pop
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    background = phone.locator(".seg-pop").evaluate("e => getComputedStyle(e).backgroundColor")
    text = phone.locator(".seg-link").first.evaluate("e => getComputedStyle(e).color")
    assert background != "rgb(255, 255, 255)" and text != "rgb(27, 31, 43)", (background, text)
    watcher.assert_clean(phone, "menu on a phone")
