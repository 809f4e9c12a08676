"""What the live update and the polish rest on, without a browser: live.json's stats version,
which pages update themselves, the site's time zone on the page, the in-flow help popovers,
the theme toggle and the dark palettes (test_polish_browser.py and test_live_browser.py
drive them in Chromium)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from dashboard import views
from jobs import tasks
from simple_analytics.testing import make_website, record_events

pytestmark = pytest.mark.django_db
ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def website(owner):
    website = make_website(owner=owner, timezone="Asia/Kolkata")
    now = dt.datetime.now(dt.UTC)
    record_events(website, [{"type": "PAGE_VIEW", "url": "https://example.com/", "at": now}])
    return website


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


def dash_attributes(client, website, **query) -> str:
    html = client.get(reverse("dashboard:overview", args=[website.pk]), query).content.decode()
    found = re.search(r'<div class="dash" id="dash"([^>]*)>', html)
    assert found, "no #dash element"
    return found.group(1)


def test_live_json_tells_a_dashboard_the_stats_version_when_asked(client, website):
    url = reverse("dashboard:live", args=[website.pk])
    assert "version" not in client.get(url).json()
    before = client.get(url, {"version": "0.0"}).json()["version"]
    assert re.fullmatch(r"\d+\.\d+", before)
    # What the refresh job does after new events: rewrite the open day, publish.
    tasks.refresh(website)
    after = client.get(url, {"version": before}).json()["version"]
    assert after != before


@pytest.mark.parametrize("period", ["today", "7d", "30d", "realtime"])
def test_a_period_that_includes_today_updates_itself(client, website, period):
    attrs = dash_attributes(client, website, period=period)
    assert re.search(r'data-version="\d+\.\d+"', attrs)
    assert f'data-live-poll="{views.UPDATE_POLL_S}"' in attrs
    assert 'data-tz="Asia/Kolkata"' in attrs


def test_a_past_period_does_not(client, website):
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).date().isoformat()
    attrs = dash_attributes(
        client, website, period="custom", **{"from": yesterday, "to": yesterday}
    )
    assert "data-version" not in attrs
    assert f'data-live-poll="{views.LIVE_POLL_S}"' in attrs


def test_the_update_poll_lands_well_within_the_refresh_budget():
    # A new refresh shows at the next poll: 15 s after the job at most.
    assert views.UPDATE_POLL_S <= 5
    assert views.REALTIME_REFRESH_S % views.UPDATE_POLL_S == 0


def test_hourly_charts_say_which_time_zone_they_use(client, website):
    html = client.get(
        reverse("dashboard:overview", args=[website.pk]), {"period": "today"}
    ).content.decode()
    assert "Times are Asia/Kolkata time." in html


def test_help_popovers_open_in_the_flow_of_their_card(client, website):
    html = client.get(reverse("dashboard:overview", args=[website.pk])).content.decode()
    cards = re.findall(r'<div class="kpi">(.*?)</details>', html, flags=re.S)
    assert len(cards) == 7
    for card in cards:
        # After the numbers, not in the header: an open one pushes, it does not cover.
        assert card.index('class="change') < card.index('<details class="info" data-popover>')


def test_every_page_has_the_theme_toggle_and_its_render_blocking_script(client):
    html = client.get(reverse("dashboard:websites")).content.decode()
    assert '<meta name="color-scheme" content="light dark">' in html
    assert re.search(
        r'<script type="module" src="[^"]*dashboard/theme\.js" blocking="render">', html
    )
    # The script loads before the stylesheet it switches.
    assert html.index("theme.js") < html.index("app.css")
    assert "data-theme-toggle" in html


def _blocks(css: str, head: str) -> str:
    """The declarations of the rule that starts with ``head`` (no nested braces inside)."""
    start = css.index(head) + len(head)
    return css[start : css.index("}", start)]


def _declarations(block: str) -> list[str]:
    return sorted(d.strip() for d in block.split(";") if d.strip())


@pytest.mark.parametrize(
    "path, system, toggle",
    [
        (
            "simple_analytics/static/simple_analytics/app.css",
            ':root:not([data-theme="light"]) {',
            ':root[data-theme="dark"] {',
        ),
        (
            "dashboard/static/dashboard/dashboard.css",
            ':root:not([data-theme="light"]) .dash {',
            ':root[data-theme="dark"] .dash {',
        ),
    ],
)
def test_the_system_and_the_toggled_dark_palettes_are_the_same(path, system, toggle):
    css = (ROOT / path).read_text()
    assert "@media (prefers-color-scheme: dark)" in css
    from_system = _declarations(_blocks(css, system))
    from_toggle = [
        d for d in _declarations(_blocks(css, toggle)) if not d.startswith("color-scheme")
    ]
    assert from_system == from_toggle
    assert len(from_system) > 10
