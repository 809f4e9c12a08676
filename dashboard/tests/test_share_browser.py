"""Share links in Chromium: a visitor without an account opens a password-protected link,
gives the password, changes the period and filters, and never finds a way out of the
read-only dashboard; a link embedded in an ``<iframe>`` shows on a host the owner listed
and is refused by the browser on any other. Every page is watched for script errors and
CSP violations."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from simple_analytics.tests.browser import TIMEOUT_S, Watcher
from websites.sharing import share_link_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "share-with-acme-7"
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
DAY = "period=custom&from=2026-01-15&to=2026-01-15"


@pytest.fixture
def site():
    owner = make_user("owner@example.com")
    website = make_website(owner=owner, domain="example.com")
    events = [
        {"type": "PAGE_VIEW", "url": "https://example.com/blog/a", "at": D, "ip": "198.51.100.1"},
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
            "at": D - dt.timedelta(days=1),
            "ip": "198.51.100.3",
        },
    ]
    record_events(website, events)
    return website


def visitors(page: Any) -> str:
    card = page.locator(".kpi", has=page.locator(".kpi-label", has_text="Unique visitors"))
    return card.locator(".kpi-value").inner_text().strip()


def assert_read_only(page: Any, prefix: str) -> None:
    """Every link and form of the page stays under the share URL; nothing writes."""
    targets = page.evaluate(
        """() => [
          ...Array.from(document.querySelectorAll("a[href]"), (a) => a.href),
          ...Array.from(document.querySelectorAll("form"), (f) => f.action),
        ]"""
    )
    for target in targets:
        parts = urlsplit(target)
        assert parts.path.startswith(prefix), f"{page.url}: a way out to {target}"
    assert page.locator("form[method=post]").count() == 0, page.url
    text = page.locator("body").inner_text()
    for word in ("Settings", "Snippet", "Segments", "API keys", "Log in", "Log out"):
        assert word not in text, f"{page.url} offers {word!r}"
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex, nofollow"


def test_a_visitor_opens_a_protected_link_and_explores_it_read_only(live_server, browser, site):
    token = share_link_create(website=site, label="Acme", password=PASSWORD).token
    prefix = f"/share/{token}/"
    watcher = Watcher()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_S * 1000)
    try:
        page = watcher.attach(context.new_page())
        response = page.goto(f"{live_server.url}{prefix}?{DAY}")
        assert response.headers["x-robots-tag"] == "noindex, nofollow"
        assert page.locator(".kpi").count() == 0

        page.get_by_label("Password").fill("not-it")
        page.get_by_role("button", name="Show the dashboard").click()
        assert "not the password" in page.locator(".alert").inner_text()
        # The refusal is a 403, which Chromium logs; nothing else may be.
        assert watcher.console_errors == [
            "Failed to load resource: the server responded with a status of 403 (Forbidden)"
        ]
        watcher.console_errors.clear()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Show the dashboard").click()
        page.wait_for_selector(".kpi")
        assert urlsplit(page.url).path == prefix and DAY in page.url
        assert visitors(page) == "2"
        watcher.assert_clean(page, "the shared dashboard")
        assert_read_only(page, prefix)

        # The period: one day back, still under the share URL.
        page.locator(".period-bar").get_by_role("link", name="Previous period").click()
        page.wait_for_url(re.compile(r"from=2026-01-14"))
        assert urlsplit(page.url).path == prefix
        assert visitors(page) == "1"
        page.locator(".period-bar").get_by_role("link", name="Next period").click()
        page.wait_for_url(re.compile(r"from=2026-01-15"))

        # A filter through the form, then one by clicking a row.
        page.locator(".filter-add > summary").click()
        form = page.locator(".filter-form")
        form.get_by_label("By").select_option(value="page")
        form.get_by_label("Operator").select_option(label="contains")
        form.get_by_label("Values, one per line").fill("docs\nblog")
        form.get_by_role("button", name="Apply filter").click()
        page.wait_for_url(re.compile(r"page=~docs%7Cblog"))
        assert urlsplit(page.url).path == prefix
        assert visitors(page) == "2"
        page.locator("#tp-pages .bar-row", has_text="/docs").click()
        page.wait_for_url(re.compile(r"page=%2Fdocs"))
        assert visitors(page) == "1"
        watcher.assert_clean(page, "filtered")
        assert_read_only(page, prefix)

        # The details of a panel, and back.
        page.locator("#tp-pages").get_by_role("link", name=re.compile("Details")).click()
        page.wait_for_url(re.compile(rf"{prefix}details/pages/"))
        assert_read_only(page, prefix)
        page.get_by_role("link", name=re.compile("Dashboard of")).click()
        page.wait_for_url(re.compile(rf"{prefix}\?"))
        assert visitors(page) == "1"
        watcher.assert_clean(page, "back from the details")
    finally:
        context.close()


def embedding_page(target: str) -> str:
    return f'<!doctype html><title>Embed</title><iframe src="{target}" width="1200" height="900"></iframe>'


@contextlib.contextmanager
def someone_elses_site(target: str) -> Iterator[str]:
    """A page that frames ``target``, on an origin of its own (another port: Chromium does
    not let a page outside the loopback frame one on it)."""
    body = embedding_page(target).encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def framed_visitors(page: Any) -> int:
    """How many visitor cards the page's frame shows (0 when the browser refused it)."""
    page.wait_for_load_state("load")
    frame = page.frame_locator("iframe")
    return int(frame.locator(".kpi", has_text="Unique visitors").count())


def test_an_embedded_link_shows_on_the_listed_host_only(live_server, browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(TIMEOUT_S * 1000)

    def open_page(url: str) -> tuple[Any, list[str]]:
        page = context.new_page()
        messages: list[str] = []
        page.on("console", lambda m: messages.append(m.text))
        page.goto(url)
        return page, messages

    try:
        created = share_link_create(website=site, label="Blog")
        target = f"{live_server.url}/share/{created.token}/?{DAY}"
        with someone_elses_site(target) as listed, someone_elses_site(target) as unlisted:
            created.link.embed_hosts = listed
            created.link.save(update_fields=["embed_hosts"])
            page, _ = open_page(f"{listed}/")
            frame = page.frame_locator("iframe")
            frame.locator(".kpi").first.wait_for()
            card = frame.locator(".kpi", has_text="Unique visitors")
            assert card.locator(".kpi-value").inner_text() == "2"

            refused, messages = open_page(f"{unlisted}/")
            refused.wait_for_timeout(300)
            assert framed_visitors(refused) == 0
            assert any("frame-ancestors" in m for m in messages), messages

            # A link that lists no host is refused everywhere.
            created.link.embed_hosts = ""
            created.link.save(update_fields=["embed_hosts"])
            closed, messages = open_page(f"{listed}/")
            closed.wait_for_timeout(300)
            assert framed_visitors(closed) == 0
            assert any("frame-ancestors" in m for m in messages), messages
    finally:
        context.close()
