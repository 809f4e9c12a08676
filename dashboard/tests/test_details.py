"""The details view of a panel: every row, search, sorting by each column, pages, links
that keep the period and the filters, validation, access, and snapshot reads."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from dashboard import details
from goals.models import GoalKind
from goals.services import goal_create
from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from stats import planner, queries
from stats.dimensions import BREAKDOWNS
from stats.periods import for_days
from tracking.models import Event, Session

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}
A, B, C = "198.51.100.1", "198.51.100.2", "198.51.100.3"
PAGES = [f"/p{n:02}" for n in range(1, 56)]


def ev(type_, path, at, ip, **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, "ip": ip, **extra}


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def traffic(website):
    """55 pages: A (German) views each once; B views /p07 then /p03; C (a phone) views /p07
    twice. So /p07 has 3 visitors and 4 views, /p03 2 and 2, every other page 1 and 1."""
    german = {"accept_language": "de-DE,de;q=0.9"}
    events = [ev("PAGE_VIEW", PAGES[0], D, A, **german)]
    events += [ev("PATH_CHANGE", p, D + k * S, A, **german) for k, p in enumerate(PAGES[1:], 1)]
    events += [ev("PAGE_VIEW", "/p07", D, B), ev("PATH_CHANGE", "/p03", D + S, B)]
    events += [
        ev("PAGE_VIEW", "/p07", D + k * S, C, user_agent=IPHONE_UA, referrer="https://t.co/")
        for k in (0, 1)
    ]
    record_events(website, events)
    return website


def url(website, breakdown="pages"):
    return reverse("dashboard:details", args=[website.pk, breakdown])


def get(client, website, breakdown="pages", **query):
    return client.get(url(website, breakdown), {**DAY, **query})


def labels(response):
    return [r.label for r in response.context["table"].rows]


def query_of(link):
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


# --- every row, in pages ------------------------------------------------------------------


def test_it_lists_every_row_fifty_a_page(client, traffic):
    response = get(client, traffic)
    assert response.status_code == 200
    table = response.context["table"]
    assert (table.total, table.matching, table.pages, len(table.rows)) == (55, 55, 2, 50)
    # The panel's order: most visitors, then page views, then the value.
    assert labels(response)[:4] == ["/p07", "/p03", "/p01", "/p02"]
    assert table.rows[0].cells == [
        ("visitors", "3", ""),
        ("share", "100%", "100.00%"),
        ("pageviews", "4", ""),
        ("time", "—", ""),
        ("reported", "0%", "0.00%"),
        ("scroll", "—", ""),
    ]
    assert table.summary == "55 rows · showing 1–50 · sorted by visitors, highest first"
    second = client.get(table.next_url)
    assert labels(second) == PAGES[50:]
    assert second.context["table"].summary.startswith("55 rows · showing 51–55")
    assert second.context["table"].previous_url and not second.context["table"].next_url


def test_the_rows_are_the_stats_layers_and_the_panels_first_ten(client, traffic):
    period = for_days(D.date(), D.date(), traffic.tz)
    every = queries.breakdown(traffic, period, "pages", limit=None)
    rows = []
    for n in (1, 2):
        rows += get(client, traffic, p=str(n)).context["table"].rows
    assert [(r.value, r.cells[0][1], r.cells[2][1]) for r in rows] == [
        (r.value, str(r.visitors), str(r.pageviews)) for r in every
    ]
    overview = client.get(reverse("dashboard:overview", args=[traffic.pk]), DAY)
    tab = next(t for p in overview.context["panels"] for t in p.tabs if t.key == "pages")
    assert [r.value for r in tab.rows] == [r.value for r in rows[:10]]


def test_a_page_past_the_last_shows_the_last(client, traffic):
    response = get(client, traffic, p="9")
    assert response.status_code == 200
    assert response.context["table"].page == 2 and labels(response) == PAGES[50:]


def test_page_links_show_the_ends_and_the_neighbours():
    assert details._page_numbers(1, 1) == [1]
    assert details._page_numbers(1, 3) == [1, 2, 3]
    assert details._page_numbers(6, 20) == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert details._page_numbers(20, 20) == [1, None, 18, 19, 20]


# --- search -------------------------------------------------------------------------------


def test_search_finds_the_shown_name_or_the_stored_value_ignoring_case(client, traffic):
    response = get(client, traffic, q=" P0 ")
    assert labels(response) == ["/p07", "/p03", *[f"/p0{n}" for n in (1, 2, 4, 5, 6, 8, 9)]]
    table = response.context["table"]
    assert table.summary == (
        "9 of 55 rows match “P0” · showing 1–9 · sorted by visitors, highest first"
    )
    # Languages are stored as codes and shown by name: either one finds the row.
    assert labels(get(client, traffic, "languages", q="GERM")) == ["German"]
    assert labels(get(client, traffic, "languages", q="de")) == ["German"]
    assert labels(get(client, traffic, "devices", q="mob")) == ["Mobile"]
    nothing = get(client, traffic, q="nowhere")
    assert nothing.status_code == 200 and labels(nothing) == []
    assert "Nothing matches “nowhere”" in nothing.content.decode()


def test_the_search_form_works_without_javascript_and_keeps_the_view(client, traffic):
    response = get(client, traffic, "entry_pages", device="mobile", sort="label", p="1")
    html = response.content.decode()
    form = re.search(r'<form method="get"[^>]*role="search">(.*?)</form>', html, re.S)
    assert form, "no search form"
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))
    # The period, the filters and the sort; a new search starts on the first page.
    assert hidden == {**DAY, "device": "mobile", "sort": "label"}
    assert '<label for="details-q">Search entry pages</label>' in form.group(1)
    assert 'id="details-q" name="q"' in form.group(1)


# --- sorting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort, direction, first",
    [
        ("visitors", "", "/p07"),
        ("visitors", "asc", "/p01"),
        ("share", "desc", "/p07"),
        ("share", "asc", "/p01"),
        ("pageviews", "", "/p07"),
        ("pageviews", "asc", "/p01"),
        ("label", "", "/p01"),
        ("label", "desc", "/p55"),
    ],
)
def test_every_column_sorts_both_ways(client, traffic, sort, direction, first):
    response = get(client, traffic, sort=sort, dir=direction)
    assert response.status_code == 200
    assert labels(response)[0] == first
    headers = response.context["table"].headers
    expected = (
        "ascending" if direction == "asc" or (sort == "label" and not direction) else "descending"
    )
    assert [(h.key, h.aria_sort) for h in headers if h.aria_sort] == [(sort, expected)]


def test_sessions_sort_in_session_lists_and_headers_toggle(client, traffic):
    response = get(client, traffic, "entry_pages", sort="sessions", dir="asc")
    table = response.context["table"]
    assert [h.heading for h in table.headers] == [
        "Entry page",
        "Visitors",
        "Share",
        "Entrances",
        "Page views",
    ]
    assert labels(response) == ["/p01", "/p07"]
    html = response.content.decode()
    assert re.search(r'<th scope="col" class="col-sessions num" aria-sort="ascending">', html)
    assert html.count("aria-sort=") == 1 and html.count('scope="row"') == 2
    by = {h.key: query_of(h.url) for h in table.headers}
    # The sorted column turns around; the others start at their natural end.
    assert by["sessions"] == {**DAY, "sort": "sessions"}
    assert by["label"] == {**DAY, "sort": "label"}
    assert by["visitors"] == DAY
    # Pages have no sessions column.
    assert get(client, traffic, sort="sessions").status_code == 400


# --- links --------------------------------------------------------------------------------


def test_rows_filter_the_dashboard_keeping_the_period_and_the_filters(client, traffic):
    response = get(client, traffic, "pages", device="mobile", event="Signup")
    [row] = response.context["table"].rows
    assert row.label == "/p07"
    link = urlsplit(row.url)
    assert link.path == reverse("dashboard:overview", args=[traffic.pk])
    assert query_of(row.url) == {**DAY, "device": "mobile", "page": "/p07", "event": "Signup"}
    [chip] = response.context["chips"]
    assert (chip.label, chip.value) == ("Device", "Mobile")
    assert query_of(chip.remove_url) == {**DAY, "event": "Signup"}
    assert urlsplit(chip.remove_url).path == url(traffic)
    assert query_of(response.context["back_url"]) == {**DAY, "device": "mobile", "event": "Signup"}
    # The active filter's row is marked.
    filtered = get(client, traffic, "devices", device="mobile")
    assert [r.active for r in filtered.context["table"].rows] == [True]


def test_period_links_keep_the_search_the_sort_and_the_filters(client, traffic):
    response = get(client, traffic, q="p0", sort="label", browser="Chrome", p="1")
    menu = response.context["menu"]
    week = next(link for link in menu["links"] if link.key == "7d")
    assert query_of(week.url) == {"period": "7d", "browser": "Chrome", "q": "p0", "sort": "label"}
    assert menu["keep"] == {"browser": "Chrome", "q": "p0", "sort": "label"}
    assert query_of(menu["before_url"]) == {
        "period": "custom",
        "from": "2026-01-14",
        "to": "2026-01-14",
        "browser": "Chrome",
        "q": "p0",
        "sort": "label",
    }


def test_the_other_lists_of_the_panel_are_one_click_away(client, traffic):
    group = get(client, traffic, "sources", q="t").context["group"]
    assert [g.title for g in group] == [
        "Sources",
        "UTM sources",
        "UTM campaigns",
        "UTM mediums",
        "UTM contents",
        "UTM terms",
    ]
    assert [g.current for g in group][:2] == [True, False]
    assert query_of(group[1].url) == {**DAY, "q": "t"}


def test_every_tab_of_the_dashboard_links_to_its_details(client, traffic):
    query = {**DAY, "device": "mobile"}
    html = client.get(reverse("dashboard:overview", args=[traffic.pk]), query).content.decode()
    links = [
        link.replace("&amp;", "&")
        for link in re.findall(r'<p class="panel-more"><a href="([^"]+)"', html)
    ]
    overview = client.get(reverse("dashboard:overview", args=[traffic.pk]), query)
    expected = {
        url(traffic, t.key)
        for p in overview.context["panels"]
        for t in p.tabs
        if t.rows  # an empty tab has nothing more to show
    }
    assert len(links) == len(expected) and {urlsplit(link).path for link in links} == expected
    for link in links:
        assert query_of(link) == query
        assert client.get(link).status_code == 200, link


# --- every list, goals and custom events ----------------------------------------------------


@pytest.mark.parametrize("breakdown", [*BREAKDOWNS, "goals", "events"])
def test_every_list_renders_and_sorts_by_each_of_its_columns(client, traffic, breakdown):
    response = get(client, traffic, breakdown)
    assert response.status_code == 200
    for header in response.context["table"].headers:
        sorted_ = client.get(header.url)
        assert sorted_.status_code == 200, header.url
        [current] = [h for h in sorted_.context["table"].headers if h.aria_sort]
        assert current.key == header.key


def test_goals_and_custom_events_have_their_details(client, website):
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/pricing", D, A),
            ev("EVENT", "/pricing", D + S, A, name="Signup"),
            ev("PAGE_VIEW", "/", D, B),
            ev("EVENT", "/", D + S, B, name="Newsletter"),
            ev("EVENT", "/", D + 2 * S, B, name="Newsletter"),
        ],
    )
    goal_create(website=website, kind=GoalKind.EVENT, event_name="Signup")
    goal_create(website=website, kind=GoalKind.PAGE, page_pattern="/pricing")
    goals = get(client, website, "goals", sort="label")
    assert [(r.label, [c[1] for c in r.cells]) for r in goals.context["table"].rows] == [
        ("Signup", ["1", "1", "50%"]),
        ("Visit /pricing", ["1", "1", "50%"]),
    ]
    assert query_of(goals.context["table"].rows[0].url) == {**DAY, "goal": "Signup"}
    events = get(client, website, "events", sort="events")
    assert [(r.label, [c[1] for c in r.cells]) for r in events.context["table"].rows] == [
        ("Newsletter", ["1", "50%", "2"]),
        ("Signup", ["1", "50%", "1"]),
    ]
    row = events.context["table"].rows[0]
    assert row.url.endswith("#events") and query_of(row.url.split("#")[0])["event"] == "Newsletter"
    assert [g.title for g in events.context["group"]] == ["Goals", "Custom events"]


# --- snapshots ------------------------------------------------------------------------------


def test_closed_days_are_answered_from_snapshots(client, traffic):
    with planner.raw_only():
        raw = labels(get(client, traffic, sort="label"))
    call_command("rollup", verbosity=0)
    # With the raw data gone, only the snapshots can answer.
    Event.objects.filter(website=traffic).delete()
    Session.objects.filter(website=traffic).delete()
    response = get(client, traffic, sort="label")
    assert response.context["table"].total == 55
    assert labels(response) == raw == PAGES[:50]


# --- validation and access ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, message",
    [
        ({"sort": "bogus"}, "sort must be one of label, visitors, share, pageviews"),
        ({"sort": "visitors", "dir": "up"}, "dir must be asc or desc"),
        ({"p": "0"}, "p (the page) must be a whole number from 1"),
        ({"p": "-1"}, "p (the page) must be a whole number from 1"),
        ({"p": "two"}, "p (the page) must be a whole number from 1"),
        ({"p": "١"}, "p (the page) must be a whole number from 1"),
        ({"p": "9" * 30}, "p (the page) must be a whole number from 1"),
        ({"q": "x" * 201}, "the search (q) takes at most 200 characters"),
        ({"q": "a\x00b"}, "the search (q) takes at most 200 characters"),
    ],
)
def test_bad_search_sort_or_page_is_a_400_saying_what_is_wrong(client, traffic, query, message):
    response = get(client, traffic, **query)
    assert response.status_code == 400
    html = response.content.decode()
    assert message[0].upper() + message[1:] in html
    assert "by visitors" in html  # the way back: the default view


@pytest.mark.parametrize(
    "query, message",
    [
        ({"period": "forever"}, "period must be one of"),
        ({"period": "7d", "from": "2026-01-01"}, "only go with period=custom"),
        ({"utm_campaign": "a\x00b"}, "filter utm_campaign is too long or not text"),
    ],
)
def test_bad_periods_and_filters_are_a_400_like_the_dashboard(client, traffic, query, message):
    response = client.get(url(traffic), query)
    assert response.status_code == 400
    assert message in response.content.decode().lower()


def test_an_unknown_list_is_a_404(client, traffic):
    for name in ("nope", "PAGES", "funnels", "page"):
        assert client.get(url(traffic, name)).status_code == 404, name


def test_another_users_website_is_a_404_and_anonymous_visitors_log_in(client, traffic):
    other = make_website(owner=make_user(), domain="other.example")
    assert client.get(url(other)).status_code == 404
    assert client.get(reverse("dashboard:details", args=[999999, "pages"])).status_code == 404
    response = Client().get(url(traffic))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_only_safe_methods(client, traffic):
    assert client.post(url(traffic)).status_code == 405
    assert client.head(url(traffic)).status_code == 200


# --- markup ---------------------------------------------------------------------------------


def test_hostile_values_and_searches_are_text(client, website):
    evil = "/<script>alert(1)</script>"
    record_events(website, [ev("PAGE_VIEW", evil, D, A)])
    html = get(client, website, q="<script>").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert 'value="&lt;script&gt;"' in html


def test_the_page_is_an_accessible_table_without_inline_styles_or_scripts(client, traffic):
    html = get(client, traffic, p="2").content.decode()
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "<table" in html and "<caption" in html and 'scope="col"' in html
    assert html.count('aria-sort="descending"') == 1
    assert 'aria-label="Pages of top pages"' in html
    assert 'aria-current="page" aria-label="Page 2"' in html
