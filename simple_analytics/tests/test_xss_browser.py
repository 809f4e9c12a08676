"""Tracked values are hostile: they go in through the real ``/api/event`` of the live
server, and every page that shows them is rendered in Chromium, where nothing may run.

Payloads sit in the path, the referrer (its path, its host, a ``javascript:`` URL), the
UTM values and the user agent (an iOS app agent whose name ua-parser reports as the
browser). The owner logs in through the login form and opens the websites list, the
snippet, settings and delete pages, the dashboard in every period, every breakdown tab,
and the dashboard filtered by each hostile value (by clicking its row, as a user would,
and by URL); it downloads the CSV export through the dashboard's link, plain and
filtered by a payload. On every page: ``window.__xss`` stays undefined, no dialog opens, no script
error, no Content-Security-Policy violation at all (a payload that were parsed as HTML
would at least trigger one), no element made from a payload, and each payload is on the
page as text.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model

from dashboard.export import COLUMNS
from simple_analytics.testing import DESKTOP_UA, make_user, make_website
from simple_analytics.tests.browser import Watcher, log_in, wait_for
from stats.periods import PERIODS
from tracking.models import Event, Session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-9"
SCRIPT = "<script>window.__xss=1</script>"
IMG = "<img src=x onerror=window.__xss=1>"
ATTR = '"><img src=x onerror=window.__xss=1>'
SVG_HOST = '"><svg onload=window.__xss=1>'
HOSTILE_PATHS = [f"/{SCRIPT}", f"/{ATTR}"]
HOSTILE_UA = f"{SCRIPT}-iPhone/1.0 CFNetwork/1490.0.4 Darwin/23.2.0"
# A spreadsheet formula in a UTM value: the CSV export must hand it over as text.
FORMULA = '=HYPERLINK("javascript:window.__xss=1","open")'
HOSTILE_NAME = f"{IMG} shop"


def desktop_ua(n: int) -> str:
    # One visitor per agent (the visitor id hashes IP and UA; every request comes from
    # 127.0.0.1).
    return DESKTOP_UA.replace("Chrome/130.0.0.0", f"Chrome/130.0.0.{n}")


def visits() -> list[tuple[str, dict[str, Any]]]:
    """(user agent, ingestion body without ``site``) of each hostile visit."""
    base = "https://example.com"
    utm = urlencode({"utm_source": IMG, "utm_medium": SCRIPT, "utm_campaign": ATTR})
    return [
        (desktop_ua(1), {"type": "PAGE_VIEW", "url": f"{base}{HOSTILE_PATHS[0]}"}),
        (desktop_ua(1), {"type": "PATH_CHANGE", "url": f"{base}{HOSTILE_PATHS[1]}"}),
        (
            desktop_ua(1),
            {"type": "PAGE_EXIT", "url": f"{base}{HOSTILE_PATHS[1]}", "engaged_ms": 1200},
        ),
        (
            desktop_ua(2),
            {"type": "PAGE_VIEW", "url": f"{base}/a", "referrer": f"https://evil.example/{ATTR}"},
        ),
        (
            desktop_ua(3),
            {"type": "PAGE_VIEW", "url": f"{base}/b", "referrer": "javascript:window.__xss=1"},
        ),
        (
            desktop_ua(4),
            {"type": "PAGE_VIEW", "url": f"{base}/c", "referrer": f"https://{SVG_HOST}/"},
        ),
        (desktop_ua(5), {"type": "PAGE_VIEW", "url": f"{base}/?{utm}"}),
        (HOSTILE_UA, {"type": "PAGE_VIEW", "url": f"{base}/app"}),
        (
            desktop_ua(6),
            {"type": "PAGE_VIEW", "url": f"{base}/f?{urlencode({'utm_campaign': FORMULA})}"},
        ),
    ]


def ingest(base_url: str, site: str, user_agent: str, body: dict[str, Any]) -> int:
    data = json.dumps({"site": site, **body}).encode()
    request = urllib.request.Request(
        f"{base_url}/api/event",
        data=data,
        headers={"Content-Type": "text/plain", "User-Agent": user_agent},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.fixture
def hostile_site(live_server):
    owner = make_user("owner@example.com", password=PASSWORD)
    website = make_website(owner=owner, domain="example.com")
    type(website).objects.filter(pk=website.pk).update(name=HOSTILE_NAME)
    for user_agent, body in visits():
        assert ingest(live_server.url, website.tracking_id, user_agent, body) == 202, body
    wait_for(lambda: Event.objects.filter(website=website).count() == len(visits()), "events")
    # What the payloads became once stored: the dashboard shows these values.
    sessions = Session.objects.filter(website=website)
    stored = {
        "paths": set(Event.objects.values_list("path", flat=True)),
        "sources": set(sessions.values_list("source", flat=True)),
        "utm": set(sessions.values_list("utm_source", "utm_medium", "utm_campaign")),
        "browsers": set(sessions.values_list("browser", flat=True)),
    }
    assert set(HOSTILE_PATHS) <= stored["paths"], stored
    assert {"evil.example", SVG_HOST} <= stored["sources"], stored
    assert (IMG, SCRIPT, ATTR) in stored["utm"], stored
    assert SCRIPT in stored["browsers"], stored
    return website


def text_of_page(page: Any) -> str:
    # textContent, not innerText: the hidden tabs count too.
    return page.evaluate("document.body.textContent")


def test_hostile_tracked_values_never_run_on_any_page(live_server, new_context, hostile_site):
    website = hostile_site
    owner = get_user_model().objects.get(email="owner@example.com")
    watcher = Watcher()
    page = watcher.attach(new_context().new_page())
    base = live_server.url
    log_in(page, base, owner.email, PASSWORD)
    watcher.assert_clean(page, "websites list")
    assert HOSTILE_NAME in text_of_page(page)

    dashboard = f"{base}/websites/{website.pk}/"
    for url in ("snippet/", "settings/", "delete/"):
        page.goto(dashboard + url)
        watcher.assert_clean(page, url)
        assert HOSTILE_NAME in text_of_page(page)

    today = dt.datetime.now(dt.UTC).date()  # the website's time zone is UTC
    for key in PERIODS:
        query = {"period": key}
        if key == "custom":
            query.update(
                {"from": (today - dt.timedelta(days=6)).isoformat(), "to": today.isoformat()}
            )
        page.goto(f"{dashboard}?{urlencode(query)}")
        watcher.assert_clean(page, f"period {key}")

    # Today: every tab of every panel, each hostile value present as text.
    page.goto(f"{dashboard}?period=today")
    tabs = page.locator('[role="tab"]')
    hostile_rows: list[tuple[str, int]] = []
    for i in range(tabs.count()):
        tab = tabs.nth(i)
        tab.click()
        panel = page.locator(f"#{tab.get_attribute('aria-controls')}")
        assert panel.is_visible()
        labels = panel.locator(".bar-label").all_text_contents()
        hostile_rows += [
            (tab.get_attribute("data-tab"), n) for n, label in enumerate(labels) if "__xss" in label
        ]
        watcher.assert_clean(page, f"tab {tab.get_attribute('data-tab')}")
    shown = text_of_page(page)
    for value in [*HOSTILE_PATHS, "evil.example", SVG_HOST, IMG, ATTR, SCRIPT]:
        assert value in shown, f"{value!r} is not shown as text"
    tabs_with_payloads = {tab for tab, _ in hostile_rows}
    assert {
        "pages",
        "entry_pages",
        "exit_pages",
        "sources",
        "utm_sources",
        "utm_campaigns",
        "browsers",
    } <= tabs_with_payloads, hostile_rows

    # Click each hostile row: the whole dashboard filtered by it, the value in a chip.
    for tab_key, n in hostile_rows:
        page.goto(f"{dashboard}?period=today")
        page.click(f'[role="tab"][data-tab="{tab_key}"]')
        row = page.locator(f"#tp-{tab_key} .bar-row").nth(n)
        label = row.locator(".bar-label").text_content()
        with page.expect_navigation():
            row.click()
        where = f"filtered by {tab_key} = {label!r}"
        watcher.assert_clean(page, where)
        assert label in page.locator(".chip-value").all_text_contents(), where
        assert "__xss" in text_of_page(page)

    # Filters typed into the URL (a shared link): hostile values that match nothing too.
    names = [
        "page",
        "entry_page",
        "exit_page",
        "source",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "browser",
        "os",
        "device",
    ]
    for i, name in enumerate(names):
        value = (SCRIPT, ATTR)[i % 2]
        page.goto(f"{dashboard}?{urlencode({'period': '30d', name: value})}")
        where = f"URL filter {name} = {value!r}"
        watcher.assert_clean(page, where)
        assert value in page.locator(".chip-value").all_text_contents(), where


def test_the_realtime_view_refreshes_hostile_values_as_text(live_server, new_context, hostile_site):
    """The realtime view swaps in fresh HTML by itself; the swap must not run it either."""
    owner = get_user_model().objects.get(email="owner@example.com")
    watcher = Watcher()
    context = new_context()
    page = watcher.attach(context.new_page())
    log_in(page, live_server.url, owner.email, PASSWORD)
    page.clock.install()
    url = f"{live_server.url}/websites/{hostile_site.pk}/?period=realtime"
    page.goto(url)
    watcher.assert_clean(page, "realtime")
    with page.expect_response(lambda r: r.url == url and r.request.resource_type == "fetch"):
        page.clock.run_for(60_000)
    dash = page.locator("#dash")
    wait_for(lambda: "loading" not in (dash.get_attribute("class") or ""), "the refresh")
    watcher.assert_clean(page, "realtime, refreshed")
    assert SCRIPT in text_of_page(page)


def test_the_csv_export_downloads_hostile_values_as_inert_text(
    live_server, new_context, hostile_site
):
    """The export is an attachment (never rendered, never sniffed as HTML), clicking its link
    runs nothing, and formulas arrive neutralised."""
    owner = get_user_model().objects.get(email="owner@example.com")
    watcher = Watcher()
    page = watcher.attach(new_context(accept_downloads=True).new_page())
    log_in(page, live_server.url, owner.email, PASSWORD)
    dashboard = f"{live_server.url}/websites/{hostile_site.pk}/"
    for query in (
        {"period": "today"},
        {"period": "today", "utm_campaign": FORMULA},
        {"period": "today", "page": HOSTILE_PATHS[0]},
    ):
        page.goto(f"{dashboard}?{urlencode(query)}")
        with page.expect_download() as info:
            page.click("[data-export]")
        download = info.value
        where = f"export of {query}"
        watcher.assert_clean(page, where)
        assert download.suggested_filename.endswith(".csv"), where
        with open(download.path(), encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == COLUMNS
        cells = [cell for row in rows for cell in row]
        for cell in cells:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (where, cell)
        if "page" in query:
            assert HOSTILE_PATHS[0] in cells, where
        else:
            assert "'" + FORMULA in cells, where
        if len(query) == 1:
            for value in (*HOSTILE_PATHS, IMG, ATTR, SCRIPT, SVG_HOST):
                assert value in cells, f"{where}: {value!r} missing"

    # Asked for directly, it is still an attachment with a type no browser renders.
    response = page.request.get(f"{dashboard}export.csv?period=today")
    assert response.status == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    with page.expect_download():
        try:
            page.goto(f"{dashboard}export.csv?period=today")
        except Exception as exc:  # Chromium reports a navigation that became a download
            assert "Download is starting" in str(exc), exc
    watcher.assert_clean(page, "export opened directly")
