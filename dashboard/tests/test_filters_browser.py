"""Filters with operators in Chromium: the "Filter" form adds "is not" and "contains" with
several values, the chips read them, removing one brings its visits back, and the form
fits a 390 px phone. Every page is watched for script errors and CSP violations."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from simple_analytics.tests.browser import TIMEOUT_S, Watcher, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-9"
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
DAY = "period=custom&from=2026-01-15&to=2026-01-15"
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def site():
    """Three visitors: from Google to /blog/a, direct on a phone to /docs, from Bing to /."""
    owner = make_user("owner@example.com", password=PASSWORD)
    website = make_website(owner=owner, domain="example.com")
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/blog/a",
                "at": D,
                "ip": "198.51.100.1",
                "referrer": "https://www.google.com/",
            },
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/docs",
                "at": D,
                "ip": "198.51.100.2",
                "user_agent": IPHONE_UA,
            },
            {
                "type": "PAGE_VIEW",
                "url": "https://example.com/",
                "at": D,
                "ip": "198.51.100.3",
                "referrer": "https://www.bing.com/",
                "user_agent": FIREFOX_UA,
            },
        ],
    )
    return website


def visitors(page: Any) -> str:
    card = page.locator(".kpi", has=page.locator(".kpi-label", has_text="Unique visitors"))
    return card.locator(".kpi-value").inner_text().strip()


def chips(page: Any) -> list[str]:
    return [re.sub(r"\s+", " ", t).strip(" ×") for t in page.locator(".chip").all_inner_texts()]


def add_filter(page: Any, dimension: str, op: str, values: str) -> None:
    page.locator(".filter-add > summary").click()
    form = page.locator(".filter-form")
    form.get_by_label("By").select_option(value=dimension)
    form.get_by_label("Operator").select_option(label=op)
    form.get_by_label("Values, one per line").fill(values)
    form.get_by_role("button", name="Apply filter").click()


def test_the_owner_filters_with_is_not_contains_and_several_values(live_server, browser, site):
    base = live_server.url
    watcher = Watcher()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_S * 1000)
    try:
        page = watcher.attach(context.new_page())
        log_in(page, base, "owner@example.com", PASSWORD)
        page.goto(f"{base}/websites/{site.pk}/?{DAY}")
        assert visitors(page) == "3"

        add_filter(page, "source", "is not", "Google")
        page.wait_for_url(re.compile(r"source=%21Google"))
        assert "from=2026-01-15" in page.url
        watcher.assert_clean(page, "source is not Google")
        assert chips(page) == ["Source is not Google"]
        assert visitors(page) == "2"

        # A second dimension, two texts, any case: /docs only (the Bing visit saw /).
        add_filter(page, "page", "contains", "DOC\nblog")
        page.wait_for_url(re.compile(r"page=~DOC%7Cblog"))
        assert chips(page) == [
            "Page contains DOC or blog",
            "Source is not Google",
        ]  # registry order
        assert visitors(page) == "1"
        assert page.locator("#tp-pages .bar-row").all_inner_texts()[0].startswith("/docs")

        # Removing the source filter brings the Google visit to /blog/a back.
        page.get_by_role("link", name="Remove filter: Source is not Google").click()
        page.wait_for_url(re.compile(r"^(?!.*source=)"))
        assert chips(page) == ["Page contains DOC or blog"]
        assert visitors(page) == "2"

        # Several values from the form: any of them.
        add_filter(page, "browser", "is", "Firefox\nSafari")
        assert chips(page)[-1] == "Browser is Firefox or Safari"
        assert visitors(page) == "1"

        # A refused filter says why and offers a way back.
        add_filter(page, "country", "contains", "D")
        assert "stored as a code" in page.locator(".error-message").inner_text()
    finally:
        context.close()


def test_the_form_fits_a_phone_and_closes_with_escape(live_server, browser, site):
    base = live_server.url
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(TIMEOUT_S * 1000)
    try:
        page = context.new_page()
        log_in(page, base, "owner@example.com", PASSWORD)
        page.goto(f"{base}/websites/{site.pk}/?{DAY}")
        page.locator(".filter-add > summary").click()
        box = page.locator(".filter-form").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        page.keyboard.press("Escape")
        assert page.locator(".filter-add").get_attribute("open") is None
    finally:
        context.close()
