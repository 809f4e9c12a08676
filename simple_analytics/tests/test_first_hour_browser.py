"""The first hour of a fresh install, in Chromium (issue 15): nothing fails silently.

- without SMTP, sign-up says the confirmation link went to the server's console, and
  two-factor turns on with the address still unverified;
- a website added as ``http://127.0.0.1:PORT/`` gets a snippet that works as pasted;
- the waiting page shows, live, what arrived and why it was dropped (a headless browser's
  bot user agent, Do Not Track, a host the settings do not allow) with the fix, and says why
  an automated browser sends nothing at all;
- ``createuser --password-stdin`` and ``site add`` with ``BASE_URL`` give an account and a
  snippet that work in the browser;
- the API keys page's "Try it" command answers with the stats of the user's website.

The customer's pages are served by ``browser_urls`` (any path the project does not route).
"""

from __future__ import annotations

import io
import json
import re
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.test import override_settings

from simple_analytics.testing import DESKTOP_UA, make_user, make_website, totp_code
from simple_analytics.tests import browser_urls
from simple_analytics.tests.browser import Watcher, log_in, wait_for
from tracking.models import DropCount, Event
from websites.models import Website

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("simple_analytics.tests.browser_urls"),
]

PASSWORD = "a-long-pass-phrase-42"
HEADLESS_UA = DESKTOP_UA.replace("Chrome/", "HeadlessChrome/")
# The waiting panel polls every 5 s: allow two rounds.
PANEL_TIMEOUT_S = 15.0


@pytest.fixture
def customer_page() -> Iterator[dict[str, str]]:
    browser_urls.PAGE["snippet"] = ""
    yield browser_urls.PAGE
    browser_urls.PAGE["snippet"] = ""


def stored(website: Website) -> list[tuple[str, str]]:
    return list(Event.objects.filter(website=website).order_by("id").values_list("type", "path"))


def drops(website: Website) -> dict[str, int]:
    return dict(DropCount.objects.filter(website=website).values_list("reason", "count"))


def owner_page(new_context: Any, live_server: Any, email: str) -> tuple[Any, Watcher]:
    watcher = Watcher()
    page = watcher.attach(new_context().new_page())
    log_in(page, live_server.url, email, PASSWORD)
    return page, watcher


def drop_row(page: Any, reason: str) -> Any:
    return page.locator(f'[data-waiting-drops] li[data-reason="{reason}"]')


def test_without_smtp_sign_up_says_where_the_link_went_and_two_factor_turns_on(
    live_server, new_context
):
    base = live_server.url
    watcher = Watcher()
    page = watcher.attach(new_context().new_page())
    page.goto(f"{base}/accounts/signup/")
    page.fill('input[name="email"]', "new@example.com")
    page.fill('input[name="password1"]', PASSWORD)
    page.fill('input[name="password2"]', PASSWORD)
    page.click('main form button[type="submit"]')
    page.wait_for_url(f"{base}/websites/")
    message = page.locator(".messages").inner_text()
    assert "Email is not configured on this server" in message
    assert "printed to the server's console" in message and "sent to" not in message
    assert not EmailAddress.objects.get(email="new@example.com").verified

    page.goto(f"{base}/accounts/2fa/")
    assert "Email is not configured" in page.locator("[data-email-console]").inner_text()
    watcher.assert_clean(page, "two-factor page")
    page.goto(f"{base}/accounts/2fa/totp/activate/")
    if "/reauthenticate/" in page.url:
        page.fill('input[name="password"]', PASSWORD)
        page.click('main form button[type="submit"]')
        page.wait_for_url(re.compile(r"/2fa/totp/activate/"))
    secret = page.get_attribute("img.qr", "alt")
    assert secret
    page.fill('input[name="code"]', totp_code(secret))
    page.click('main form button[type="submit"]')
    wait_for(
        lambda: Authenticator.objects.filter(
            user__email="new@example.com", type=Authenticator.Type.TOTP
        ).exists(),
        "two-factor to be on",
    )
    # allauth's recovery-code page carries a JSON <script> of its own: only errors count here.
    assert "cannot activate" not in page.content()
    assert watcher.page_errors == [] and watcher.console_errors == []


def test_a_website_added_as_a_local_url_is_tracked_with_the_snippet_as_shown(
    live_server, new_context, customer_page
):
    owner = make_user("owner@example.com", PASSWORD)
    page, watcher = owner_page(new_context, live_server, owner.email)
    port = live_server.url.rsplit(":", 1)[1]
    page.goto(f"{live_server.url}/websites/add/")
    page.fill('input[name="domain"]', f"http://127.0.0.1:{port}/")
    page.click('main form button[type="submit"]')
    page.wait_for_url(re.compile(r"/websites/\d+/snippet/$"))
    watcher.assert_clean(page, "snippet page")
    website = Website.objects.get(owner=owner)
    assert website.domain == "127.0.0.1"
    snippet = page.locator("#snippet-code").inner_text().strip()
    assert snippet.endswith(f'data-site="{website.tracking_id}" data-allow-localhost></script>')
    assert "data-allow-localhost" in page.locator("[data-localhost-note]").inner_text()

    # Pasted as shown, into a page on that address and port: the visit is stored.
    customer_page["snippet"] = snippet
    visitor = new_context().new_page()
    visitor.goto(f"http://127.0.0.1:{port}/landing")
    wait_for(lambda: stored(website) == [("PAGE_VIEW", "/landing")], "the page view")
    status = page.locator("[data-status-title]")
    wait_for(lambda: "Receiving data" in status.inner_text(), "the snippet page's status")


def test_the_waiting_page_shows_live_what_was_dropped_and_why(
    live_server, new_context, customer_page
):
    owner = make_user("owner@example.com", PASSWORD)
    website = make_website(owner=owner, domain="localhost")
    page, watcher = owner_page(new_context, live_server, owner.email)
    page.goto(f"{live_server.url}/websites/{website.pk}/")
    panel = page.locator("[data-waiting]")
    assert "No event has arrived yet" in panel.inner_text()
    headless_hint = panel.locator('[data-hint="headless"]').inner_text()
    assert "navigator.webdriver" in headless_hint and "normal browser window" in headless_hint
    customer_page["snippet"] = (
        f'<script defer src="{live_server.url}/pixel.js" data-site="{website.tracking_id}" '
        "data-allow-localhost></script>"
    )

    # An automated browser (navigator.webdriver) sends nothing: the hint above is all there is.
    robot = new_context()
    robot.add_init_script("Object.defineProperty(navigator, 'webdriver', {get: () => true})")
    robot.new_page().goto(f"{live_server.url}/landing")
    # A headless browser's user agent: answered 202, dropped as a bot.
    new_context(user_agent=HEADLESS_UA).new_page().goto(f"{live_server.url}/landing")
    wait_for(lambda: drops(website).get("bot") == 1, "the bot drop")
    row = drop_row(page, "bot")
    row.wait_for(timeout=PANEL_TIMEOUT_S * 1000)
    assert "Test in a normal browser window" in row.inner_text()
    assert "Events arrived but were not stored" in panel.inner_text()

    # A browser sending Do Not Track: dropped and counted, with its fix.
    dnt = new_context(extra_http_headers={"DNT": "1"})
    dnt.new_page().goto(f"{live_server.url}/landing")
    row = drop_row(page, "do_not_track")
    row.wait_for(timeout=PANEL_TIMEOUT_S * 1000)
    assert "HONOR_DNT=False" in row.inner_text()
    assert stored(website) == [] and drops(website) == {"bot": 1, "do_not_track": 1}
    watcher.assert_clean(page, "waiting page")

    # A normal browser window: stored, and the waiting page turns into the dashboard.
    new_context().new_page().goto(f"{live_server.url}/landing")
    wait_for(lambda: stored(website) == [("PAGE_VIEW", "/landing")], "the page view")
    page.locator("#dash-main").wait_for(timeout=PANEL_TIMEOUT_S * 1000)


def test_the_snippet_page_names_a_host_the_settings_do_not_allow(
    live_server, new_context, customer_page
):
    owner = make_user("owner@example.com", PASSWORD)
    website = make_website(owner=owner, domain="shop.example")
    page, watcher = owner_page(new_context, live_server, owner.email)
    page.goto(f"{live_server.url}/websites/{website.pk}/snippet/")
    snippet = page.locator("#snippet-code").inner_text().strip()
    assert "data-allow-localhost" not in snippet
    hint = page.locator('[data-waiting] [data-hint="localhost"]').inner_text()
    assert "Testing on localhost?" in hint and "data-allow-localhost" in hint
    # Tested on localhost with the attribute, but localhost is not among the website's hosts.
    customer_page["snippet"] = snippet.replace("></script>", " data-allow-localhost></script>")
    new_context().new_page().goto(f"{live_server.url}/landing")
    row = drop_row(page, "foreign_host")
    row.wait_for(timeout=PANEL_TIMEOUT_S * 1000)
    assert "list the host" in row.inner_text()
    watcher.assert_clean(page, "snippet page, waiting")


def test_createuser_from_a_script_and_site_add_with_base_url_work_in_the_browser(
    live_server, new_context, customer_page, monkeypatch
):
    class Piped(io.StringIO):
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", Piped(PASSWORD + "\n"))
    call_command("createuser", "ops@example.com", "--password-stdin", stdout=io.StringIO())
    out = io.StringIO()
    with override_settings(BASE_URL=live_server.url):
        call_command("site_add", "localhost", "--owner", "ops@example.com", stdout=out)
    snippet = out.getvalue().splitlines()[-1]
    assert snippet.startswith(f'<script defer src="{live_server.url}/pixel.js"')

    page, watcher = owner_page(new_context, live_server, "ops@example.com")
    website = Website.objects.get(owner__email="ops@example.com")
    customer_page["snippet"] = snippet
    new_context().new_page().goto(f"{live_server.url}/landing")
    wait_for(lambda: stored(website) == [("PAGE_VIEW", "/landing")], "the page view")
    page.goto(f"{live_server.url}/websites/")
    assert "localhost" in page.locator("main").inner_text()
    watcher.assert_clean(page, "websites list")


def test_the_api_keys_try_it_command_answers_with_the_stats_of_the_users_website(
    live_server, new_context
):
    owner = make_user("owner@example.com", PASSWORD)
    website = make_website(owner=owner, domain="shop.example")
    page, watcher = owner_page(new_context, live_server, owner.email)
    page.goto(f"{live_server.url}/account/api-keys/")
    page.fill("#key-name", "try it")
    page.click('main form button[type="submit"]')
    command = page.locator("[data-try-it]").inner_text()
    match = re.fullmatch(r'curl -H "Authorization: Bearer (\S+)" "(\S+)"', command.strip())
    assert match is not None, command
    key, url = match.groups()
    assert f"site={website.tracking_id}" in url and "TRACKING_ID" not in command
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
        assert json.load(response)["pageviews"] == 0
    watcher.assert_clean(page, "API keys page")
