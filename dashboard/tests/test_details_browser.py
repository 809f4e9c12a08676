"""The details view in Chromium, as the owner uses it: from a dashboard tab's Details link
to every row, pages, a search through the plain form, sorting by clicking the headings, a
row that filters the dashboard, a tab opened by the page's script, and a 390 px phone.

Every page is watched for script errors, dialogs and Content-Security-Policy violations.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from simple_analytics.tests.browser import Watcher, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-9"
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = "period=custom&from=2026-01-15&to=2026-01-15"
PAGES = [f"/docs/page-{n:02}" for n in range(1, 61)]
PHONE = {"width": 390, "height": 844}


def ev(type_: str, path: str, at: dt.datetime, ip: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "url": f"https://example.com{path}", "at": at, "ip": ip, **extra}


@pytest.fixture
def site():
    """60 pages seen by one visitor; /docs/page-07 by two more (one on a phone)."""
    owner = make_user("owner@example.com", password=PASSWORD)
    website = make_website(owner=owner, domain="example.com")
    a, b, c = "198.51.100.1", "198.51.100.2", "198.51.100.3"
    events = [ev("PAGE_VIEW", PAGES[0], D, a)]
    events += [ev("PATH_CHANGE", p, D + k * S, a) for k, p in enumerate(PAGES[1:], 1)]
    events += [
        ev("PAGE_VIEW", PAGES[6], D, b),
        ev("PAGE_VIEW", PAGES[6], D, c, user_agent=IPHONE_UA),
    ]
    record_events(website, events)
    return website


def row_labels(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".details-table tbody th").all_text_contents()]


def sorted_column(page: Any) -> tuple[str, str]:
    th = page.locator(".details-table thead th[aria-sort]")
    assert th.count() == 1
    # textContent: the headings are upper-cased by CSS only.
    return th.locator("a").text_content().strip(" ↑↓\n"), th.get_attribute("aria-sort")


def test_the_owner_goes_through_every_row_of_a_panel(live_server, new_context, site):
    base = live_server.url
    watcher = Watcher()
    context = new_context()
    page = watcher.attach(context.new_page())
    log_in(page, base, "owner@example.com", PASSWORD)
    dashboard = f"{base}/websites/{site.pk}/"

    # The panel shows ten pages; its Details link opens all 60 with the same period.
    page.goto(f"{dashboard}?{DAY}")
    assert page.locator("#tp-pages .bar-row").count() == 10
    page.locator("#tp-pages .panel-more a").click()
    page.wait_for_url(re.compile(rf"/websites/{site.pk}/details/pages/\?{re.escape(DAY)}$"))
    watcher.assert_clean(page, "details of pages")
    assert page.locator("h1").inner_text() == "Top pages"
    assert page.locator("#details-count").inner_text().startswith("60 rows · showing 1–50")
    assert len(row_labels(page)) == 50 and row_labels(page)[0] == PAGES[6]
    assert sorted_column(page) == ("Visitors", "descending")

    # The next page holds the last ten.
    page.get_by_role("link", name="Next ›").click()
    page.wait_for_url(re.compile(r"[?&]p=2$"))
    assert row_labels(page) == PAGES[50:]
    assert page.locator('.pager a[aria-current="page"]').inner_text() == "2"

    # A search through the form (no script involved), keeping the period; back to page 1.
    page.get_by_label("Search top pages").fill("PAGE-0")
    page.get_by_label("Search top pages").press("Enter")
    page.wait_for_url(re.compile(r"[?&]q=PAGE-0"))
    assert "from=2026-01-15" in page.url and "p=2" not in page.url
    watcher.assert_clean(page, "search")
    assert len(row_labels(page)) == 9
    assert page.locator("#details-count").inner_text().startswith("9 of 60 rows match “PAGE-0”")

    # Sort by clicking the headings: the name from A, then from Z; the page views, lowest.
    page.locator("thead th.col-label a").click()
    page.wait_for_url(re.compile(r"[?&]sort=label"))
    assert sorted_column(page) == ("Page", "ascending")
    assert row_labels(page)[0] == PAGES[0]
    page.locator("thead th.col-label a").click()
    page.wait_for_url(re.compile(r"[?&]dir=desc"))
    assert sorted_column(page) == ("Page", "descending")
    assert row_labels(page)[0] == PAGES[8]
    page.locator("thead th.col-pageviews a").click()
    page.wait_for_url(re.compile(r"sort=pageviews"))
    assert sorted_column(page)[1] == "descending"
    assert row_labels(page)[0] == PAGES[6]
    watcher.assert_clean(page, "sorted")

    # A row filters the dashboard, as the panel's rows do.
    page.locator(".details-table tbody th a", has_text=PAGES[6]).click()
    page.wait_for_url(re.compile(rf"/websites/{site.pk}/\?.*page=%2Fdocs%2Fpage-07"))
    assert "from=2026-01-15" in page.url
    assert re.sub(r"\s+", " ", page.locator(".chip").inner_text()).startswith(f"Page is {PAGES[6]}")
    watcher.assert_clean(page, "dashboard filtered from the details")

    # A tab the script opens has its own Details link, with the dashboard's filter.
    page.get_by_role("tab", name="Browsers").click()
    page.locator("#tp-browsers .panel-more a").click()
    page.wait_for_url(re.compile(r"/details/browsers/\?.*page=%2Fdocs%2Fpage-07"))
    assert page.locator(".chip").count() == 1
    # Chrome: visitors A and B; the phone's browser: C.
    assert len(row_labels(page)) == 2 and row_labels(page)[0] == "Chrome"
    watcher.assert_clean(page, "details of browsers")

    # On a phone: nothing wider than the screen, the search and the table usable.
    phone = watcher.attach(
        new_context(
            viewport=PHONE,
            storage_state=context.storage_state(),
            is_mobile=True,
            has_touch=True,
        ).new_page()
    )
    phone.goto(f"{base}/websites/{site.pk}/details/pages/?{DAY}")
    watcher.assert_clean(phone, "details on a phone")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{width} px wide on a {PHONE['width']} px phone"
    table = phone.locator(".details-table").bounding_box()
    assert table is not None and table["x"] >= 0 and table["x"] + table["width"] <= PHONE["width"]
    label = phone.locator(".details-table tbody th").first.bounding_box()
    assert label is not None and label["width"] >= 100, label
    phone.get_by_label("Search top pages").fill("page-5")
    phone.get_by_role("button", name="Search").click()
    phone.wait_for_url(re.compile(r"[?&]q=page-5"))
    assert len(row_labels(phone)) == 10
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
