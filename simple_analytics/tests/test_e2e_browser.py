"""End to end in Chromium, as a new customer: sign up -> add a website -> copy the snippet
-> a visitor on the customer's page (landing with UTM tags and a Hacker News referrer, an
in-app navigation, then the tab closes) -> the dashboard shows that visit -> filter it by
a page and back. Then the same dashboard on a 390 px phone, with nothing wider than it.

Everything runs against pytest-django's live server; the customer's page is served by
``browser_urls`` (the project's routes plus a page that embeds the copied snippet).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from simple_analytics.tests import browser_urls
from simple_analytics.tests.browser import Watcher, wait_for
from tracking.models import Event, Session
from websites.models import Website

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("simple_analytics.tests.browser_urls"),
]

EMAIL = "new.customer@example.com"
PASSWORD = "a-long-pass-phrase-42"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def customer_page():
    browser_urls.PAGE["snippet"] = ""
    yield browser_urls.PAGE
    browser_urls.PAGE["snippet"] = ""


def stored(website: Website) -> list[tuple[str, str]]:
    return list(Event.objects.filter(website=website).order_by("id").values_list("type", "path"))


def wait_for_events(website: Website, expected: list[tuple[str, str]]) -> None:
    def probe() -> bool:
        events = stored(website)
        assert events == expected[: len(events)], f"unexpected events {events}"
        return events == expected

    wait_for(probe, f"events {expected}")


def kpi(page: Any, label: str) -> str:
    card = page.locator(".kpi").filter(has=page.locator(".kpi-label", has_text=label))
    return card.locator(".kpi-value").inner_text().strip()


def tab_labels(page: Any, tab: str) -> list[str]:
    return [t.strip() for t in page.locator(f"#tp-{tab} .bar-label").all_text_contents()]


def no_horizontal_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url}: {width} px wide on a {PHONE['width']} px phone"


def test_a_new_customer_sees_the_first_visit_and_filters_it(
    live_server, new_context, customer_page
):
    base = live_server.url
    watcher = Watcher()
    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = watcher.attach(context.new_page())

    # Sign up through the real form.
    page.goto(f"{base}/accounts/signup/")
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password1"]', PASSWORD)
    page.fill('input[name="password2"]', PASSWORD)
    page.click('main form button[type="submit"]')
    page.wait_for_url(f"{base}/websites/")
    watcher.assert_clean(page, "websites list, empty")

    # Add a website through the real form.
    page.get_by_role("link", name="Add a website").click()
    page.fill('input[name="domain"]', "localhost")
    page.click('main form button[type="submit"]')
    page.wait_for_url(re.compile(r"/websites/\d+/snippet/$"))
    watcher.assert_clean(page, "snippet page")
    website = Website.objects.get(owner__email=EMAIL)
    assert page.url == f"{base}/websites/{website.pk}/snippet/"
    assert "Waiting for the first event" in page.locator("#status").inner_text()

    # Copy the snippet as a user would: the Copy button puts the page's text on the clipboard.
    snippet = page.locator("#snippet-code").inner_text().strip()
    page.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == snippet
    # A site on localhost is tracked only when it says so: its snippet says so already.
    assert snippet == (
        f'<script defer src="{base}/pixel.js" data-site="{website.tracking_id}" '
        "data-allow-localhost></script>"
    )
    customer_page["snippet"] = snippet

    # A visitor: lands from Hacker News with UTM tags, navigates in the app, closes the tab.
    visitor = new_context().new_page()
    visitor.goto(
        f"{base}/landing?utm_source=e2e&utm_campaign=launch",
        referer="https://news.ycombinator.com/",
    )
    wait_for_events(website, [("PAGE_VIEW", "/landing")])
    visitor.click("#push")
    wait_for_events(website, [("PAGE_VIEW", "/landing"), ("PATH_CHANGE", "/pricing")])
    visitor.close(run_before_unload=True)
    visit = [("PAGE_VIEW", "/landing"), ("PATH_CHANGE", "/pricing"), ("PAGE_EXIT", "/pricing")]
    wait_for_events(website, visit)
    session = Session.objects.get(website=website)
    assert (session.referrer_host, session.utm_source, session.utm_campaign) == (
        "news.ycombinator.com",
        "e2e",
        "launch",
    )

    # The snippet page noticed by itself.
    status = page.locator("[data-status-title]")
    wait_for(lambda: "Receiving data" in status.inner_text(), "the snippet page's status")

    # The dashboard shows the visit: 1 visitor, its 2 pages, its device and its source.
    dashboard = f"{base}/websites/{website.pk}/"
    page.goto(f"{dashboard}?period=today")
    watcher.assert_clean(page, "dashboard")
    assert kpi(page, "Unique visitors") == "1"
    assert kpi(page, "Page views") == "2"
    assert kpi(page, "Sessions") == "1"
    assert kpi(page, "Bounce rate") == "0%"
    assert sorted(tab_labels(page, "pages")) == ["/landing", "/pricing"]
    assert tab_labels(page, "entry_pages") == ["/landing"]
    assert tab_labels(page, "exit_pages") == ["/pricing"]
    # The tagged utm_source names the source; the referrer is kept on the session.
    assert tab_labels(page, "sources") == ["e2e"]
    assert tab_labels(page, "utm_campaigns") == ["launch"]
    assert tab_labels(page, "devices") == ["Desktop"]
    assert tab_labels(page, "browsers") == ["Chrome"]
    assert page.locator(".chip").count() == 0

    # Filter by a page: click its row; the numbers follow and a chip says so.
    page.locator("#tp-pages .bar-row", has_text="/pricing").click()
    page.wait_for_url(re.compile(r"[?&]page=%2Fpricing"))
    watcher.assert_clean(page, "dashboard filtered by /pricing")
    chip = page.locator(".chip")
    assert chip.count() == 1
    assert re.sub(r"\s+", " ", chip.inner_text()).startswith("Page is /pricing")
    assert kpi(page, "Page views") == "1"
    assert kpi(page, "Unique visitors") == "1"
    assert tab_labels(page, "pages") == ["/pricing"]

    # Remove the chip: back to the whole site.
    chip.locator(".chip-x").click()
    page.wait_for_url(f"{dashboard}?period=today")
    assert page.locator(".chip").count() == 0
    assert kpi(page, "Page views") == "2"

    # The same pages on a phone: nothing wider than the screen.
    phone = watcher.attach(
        new_context(
            viewport=PHONE, storage_state=context.storage_state(), is_mobile=True, has_touch=True
        ).new_page()
    )
    for url in (
        f"{dashboard}?period=today",
        f"{dashboard}?period=today&page=%2Fpricing",
        f"{dashboard}?period=30d",
        f"{dashboard}?period=realtime",
        f"{base}/websites/",
        f"{dashboard}snippet/",
    ):
        phone.goto(url)
        watcher.assert_clean(phone, f"phone {url}")
        no_horizontal_overflow(phone)
    phone.goto(f"{dashboard}?period=today")
    assert kpi(phone, "Unique visitors") == "1"
