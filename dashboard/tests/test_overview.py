"""The dashboard page: numbers from hand-built events, periods, filters, access, escaping."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from stats.periods import PERIODS

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}


def ev(type_, path, at, **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, **extra}


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def visits(website):
    """3 page views in 2 sessions: A views / then /pricing and leaves; B bounces on /."""
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/", D, referrer="https://www.google.com/"),
            ev("PATH_CHANGE", "/pricing", D + 60 * S),
            ev("PAGE_EXIT", "/pricing", D + 135 * S),
            ev("PAGE_VIEW", "/", D + 5 * S, ip="198.51.100.2", user_agent=IPHONE_UA),
        ],
    )
    return website


def get(client, website, **query):
    return client.get(reverse("dashboard:overview", args=[website.pk]), query)


def cards(response):
    return {c.key: c for c in response.context["cards"]}


def test_owner_sees_the_numbers_of_hand_built_events(client, visits):
    response = get(client, visits, **DAY)
    assert response.status_code == 200
    c = cards(response)
    assert (c["visitors"].value, c["pageviews"].value, c["sessions"].value) == ("2", "3", "2")
    # A: 135 s, B: 0 s -> 67.5 s on average; one of two sessions bounced; 3 views / 2 sessions.
    assert c["duration"].value == "1m 8s"
    assert c["bounce_rate"].value == "50%"
    assert c["views_per_session"].value == "1.5"
    html = response.content.decode()
    assert "Waiting for the first event" not in html
    # Panels: pages, sources with direct traffic named, devices.
    panels = {t.key: t for p in response.context["panels"] for t in p.tabs}
    assert [(r.label, r.visitors, r.share) for r in panels["pages"].rows] == [
        ("/", "2", "100%"),
        ("/pricing", "1", "50%"),
    ]
    assert {r.label for r in panels["sources"].rows} == {"Google", "Direct / None"}
    assert {r.label for r in panels["devices"].rows} == {"Desktop", "Mobile"}
    assert "Direct / None" in html
    # Data quality: one of two sessions sent an exit.
    assert response.context["quality"]["exit_share"] == "50%"


def test_changes_compare_with_the_previous_period(client, visits):
    record_events(visits, [ev("PAGE_VIEW", "/", D - dt.timedelta(days=1))])
    c = cards(get(client, visits, **DAY))
    assert c["visitors"].change.text == "↑ 100%"
    assert c["visitors"].change.tone == "good"
    assert c["pageviews"].change.text == "↑ 200%"
    # Previous day: one bounce in one session (100 %); now 50 % -> down 50 points, good.
    assert c["bounce_rate"].change.text == "↓ 50 pts"
    assert c["bounce_rate"].change.tone == "good"


def test_no_previous_data_shows_a_dash(client, visits):
    c = cards(get(client, visits, **DAY))
    assert {card.change.text for card in c.values()} == {"—"}


@pytest.mark.parametrize("key", [k for k in PERIODS if k != "custom"])
def test_every_period_renders(client, visits, key):
    response = get(client, visits, period=key)
    assert response.status_code == 200
    assert response.context["period"].key == key
    assert PERIODS[key] in response.content.decode()


def test_default_period_is_the_last_30_days(client, visits):
    assert get(client, visits).context["period"].key == "30d"


def test_custom_range_spans_its_days(client, visits):
    response = get(client, visits, period="custom", **{"from": "2026-01-10", "to": "2026-01-16"})
    assert response.status_code == 200
    assert cards(response)["pageviews"].value == "3"
    chart = response.context["chart"]
    assert len(chart.buckets) == 7 and chart.granularity == "day"
    assert [b.pageviews for b in chart.buckets] == [0, 0, 0, 0, 0, 3, 0]
    assert "10 Jan – 16 Jan 2026" in response.content.decode()


def test_short_ranges_are_hourly_and_realtime_is_by_minute_and_refreshes(client, visits):
    chart = get(client, visits, **DAY).context["chart"]
    assert chart.granularity == "hour" and len(chart.buckets) == 24
    assert chart.buckets[10].pageviews == 3
    response = get(client, visits, period="realtime")
    assert response.context["chart"].granularity == "minute"
    assert 'data-refresh="15"' in response.content.decode()
    assert "data-refresh" not in get(client, visits, **DAY).content.decode()


@pytest.mark.parametrize(
    "query, message",
    [
        ({"period": "forever"}, "period must be one of"),
        ({"period": "custom", "from": "2026-13-01", "to": "2026-01-31"}, "from must be a date"),
        ({"period": "custom", "from": "2026-01-01", "to": "tomorrow"}, "to must be a date"),
        (
            {"period": "custom", "from": "2026-02-01", "to": "2026-01-01"},
            "from must not be after to",
        ),
        ({"period": "custom", "from": "2026-01-01"}, "a custom range needs from and to"),
        ({"period": "custom", "from": "1999-01-01", "to": "2026-01-01"}, "from is out of range"),
        ({"period": "custom", "from": "2020-01-01", "to": "2026-01-01"}, "at most"),
        ({"period": "7d", "from": "2026-01-01", "to": "2026-01-02"}, "only go with period=custom"),
        ({"page": "/" + "x" * 3000}, "filter page is too long"),
        ({"utm_campaign": "a\x00b"}, "filter utm_campaign is too long or not text"),
    ],
)
def test_bad_periods_and_filters_are_a_400_with_the_message(client, visits, query, message):
    response = get(client, visits, **query)
    assert response.status_code == 400
    assert message in response.content.decode().lower()


def test_filters_show_as_chips_and_change_every_number(client, visits):
    response = get(client, visits, page="/pricing", **DAY)
    c = cards(response)
    # Page filter: the page views of that path and the sessions that viewed it.
    assert (c["visitors"].value, c["pageviews"].value, c["sessions"].value) == ("1", "1", "1")
    [chip] = response.context["chips"]
    assert (chip.label, chip.value) == ("Page", "/pricing")
    # Removing the chip keeps the period and drops the filter.
    assert parse_qs(urlsplit(chip.remove_url).query) == {k: [v] for k, v in DAY.items()}
    html = response.content.decode()
    assert "Filtered by" in html and "/pricing" in html


def test_filters_combine_and_none_selects_direct_traffic(client, visits):
    response = get(client, visits, source="(none)", device="mobile", **DAY)
    c = cards(response)
    assert (c["visitors"].value, c["pageviews"].value) == ("1", "1")
    chips = {chip.name: chip.value for chip in response.context["chips"]}
    assert chips == {"source": "Direct / None", "device": "Mobile"}
    assert "Clear all" in response.content.decode()
    # The server opens the tab of an active filter.
    sources_panel = next(p for p in response.context["panels"] if p.key == "sources")
    assert sources_panel.by_filter and sources_panel.tabs[0].selected


def test_rows_link_to_the_dashboard_filtered_by_their_value(client, visits):
    response = get(client, visits, device="desktop", **DAY)
    tabs = {t.key: t for p in response.context["panels"] for t in p.tabs}
    row = next(r for r in tabs["sources"].rows)
    query = parse_qs(urlsplit(row.url).query)
    assert query == {
        **{k: [v] for k, v in DAY.items()},
        "device": ["desktop"],
        "source": ["Google"],
    }
    entry = tabs["entry_pages"].rows[0]
    assert parse_qs(urlsplit(entry.url).query)["entry_page"] == ["/"]
    # The active filter's row is marked.
    assert [r.active for r in tabs["devices"].rows] == [True]
    # A direct-traffic row filters by the (none) token.
    direct = get(client, visits, **DAY).context["panels"][1].tabs[0].rows
    assert "source=%28none%29" in next(r.url for r in direct if r.label == "Direct / None")


def test_period_links_and_the_custom_form_keep_the_filters(client, visits):
    response = get(client, visits, browser="Chrome", **DAY)
    for link in response.context["period_links"]:
        query = parse_qs(urlsplit(link.url).query)
        assert query["browser"] == ["Chrome"] and query["period"] == [link.key]
    html = response.content.decode()
    assert '<input type="hidden" name="browser" value="Chrome">' in html
    before = parse_qs(urlsplit(response.context["before_url"]).query)
    assert before == {
        "period": ["custom"],
        "from": ["2026-01-14"],
        "to": ["2026-01-14"],
        "browser": ["Chrome"],
    }


def test_another_users_website_and_unknown_ids_are_404(client, visits):
    assert get(client, make_website(owner=make_user())).status_code == 404
    assert client.get(reverse("dashboard:overview", args=[999999])).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(visits):
    from django.test import Client

    response = Client().get(reverse("dashboard:overview", args=[visits.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_empty_state_shows_the_snippet_and_waits(client, website):
    response = get(client, website)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Waiting for the first event" in html
    assert website.tracking_id in html and "/pixel.js" in html
    assert "data-wait=" in html and "cards" not in response.context


def test_hostile_values_are_escaped(client, website):
    evil_path = "/<script>alert(1)</script>"
    evil_utm = '"onerror=alert(1)'
    record_events(
        website,
        [
            ev(
                "PAGE_VIEW",
                evil_path
                + "?utm_source=x%22onerror%3Dalert(1)&utm_campaign="
                + "%22onerror%3Dalert(1)",
                D,
                referrer="https://evil.example/<img src=x onerror=alert(1)>",
            ),
        ],
    )
    html = get(client, website, **DAY).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert evil_utm not in html and "&quot;onerror=alert(1)" in html
    assert "<img src=x" not in html
    # Filtered by the hostile values: chips and hidden form fields stay escaped too.
    html = get(client, website, page=evil_path, utm_campaign=evil_utm, **DAY).content.decode()
    assert "<script>alert(1)</script>" not in html and evil_utm not in html
    assert 'name="utm_campaign" value="&quot;onerror=alert(1)"' in html


def test_the_page_has_no_inline_styles_or_scripts(client, visits):
    for query in (DAY, {"period": "realtime"}, {"page": "/", **DAY}):
        html = get(client, visits, **query).content.decode()
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert not re.search(r"\son[a-z]+=", html)


def test_the_data_quality_panel_counts_events_from_foreign_hosts(client, visits):
    from tracking.importer import import_lines

    lines = [
        json.dumps(
            {
                "site": visits.tracking_id,
                "type": "PAGE_VIEW",
                "url": f"https://copied-snippet.example/{n}",
                "ts": (D + n * S).isoformat(),
                "ip": "198.51.100.9",
                "user_agent": IPHONE_UA,
            }
        )
        for n in range(2)
    ]
    assert dict(import_lines(lines).dropped) == {"foreign_host": 2}
    response = get(client, visits, **DAY)
    assert response.context["quality"]["other_drops"] == [
        {"label": "Events from pages on hosts the settings do not allow", "count": "2"}
    ]
    html = response.content.decode()
    assert "<dt>Events from pages on hosts the settings do not allow</dt><dd>2</dd>" in html
    assert f'<a href="{reverse("websites:edit", args=[visits.pk])}">settings</a>' in html
    # The visits themselves are counted as before.
    assert cards(response)["pageviews"].value == "3"
