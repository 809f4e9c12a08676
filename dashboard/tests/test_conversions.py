"""The Goals, Custom events and Funnel panels of the dashboard: numbers from hand-built
traffic, the clicks that filter or drill down, the empty states, access and escaping."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.conversions import EXAMPLE_CALL, STUB
from goals.models import GoalKind
from goals.services import funnel_create, goal_create
from simple_analytics.testing import make_user, record_events

pytestmark = pytest.mark.django_db
D = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
S = dt.timedelta(seconds=1)
DAY = {"period": "custom", "from": "2026-01-15", "to": "2026-01-15"}
FUNNEL = "Pricing to signup"


def ev(type_, path, at, ip, **extra):
    return {"type": type_, "url": f"https://example.com{path}", "at": at, "ip": ip, **extra}


@pytest.fixture
def client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def traffic(website):
    """Four visitors: A views /pricing, then /signup, and signs up (plan pro); B views
    /pricing and signs up (plan free); C views / and subscribes (no props); D bounces."""
    a, b, c, d = (f"198.51.100.{n}" for n in (1, 2, 3, 4))
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/pricing", D, a),
            ev("PAGE_VIEW", "/pricing", D + 5 * S, b),
            ev("PAGE_VIEW", "/", D + 7 * S, c),
            ev("PAGE_VIEW", "/blog", D + 8 * S, d),
            ev("EVENT", "/", D + 9 * S, c, name="Newsletter"),
            ev("PATH_CHANGE", "/signup", D + 10 * S, a),
            ev("EVENT", "/signup", D + 20 * S, a, name="Signup", props={"plan": "pro"}),
            ev("EVENT", "/pricing", D + 30 * S, b, name="Signup", props={"plan": "free"}),
        ],
    )
    return website


@pytest.fixture
def goals(traffic):
    goal_create(website=traffic, kind=GoalKind.EVENT, event_name="Signup")
    goal_create(
        website=traffic, kind=GoalKind.EVENT, event_name="Signup", prop_key="plan", prop_value="pro"
    )
    goal_create(website=traffic, kind=GoalKind.PAGE, page_pattern="/pricing")
    goal_create(website=traffic, kind=GoalKind.PAGE, page_pattern="/signup")
    funnel_create(website=traffic, name=FUNNEL, steps=["Visit /pricing", "Visit /signup", "Signup"])
    return traffic


def get(client, website, **query):
    return client.get(reverse("dashboard:overview", args=[website.pk]), query)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def day(**extra: str) -> dict[str, list[str]]:
    return {**{k: [v] for k, v in DAY.items()}, **{k: [v] for k, v in extra.items()}}


def kpi(response, key):
    return next(c.value for c in response.context["cards"] if c.key == key)


# --- goals ----------------------------------------------------------------------------


def test_the_goals_panel_shows_converting_visitors_events_and_the_rate(client, goals):
    response = get(client, goals, **DAY)
    rows = response.context["conversions"].goals.rows
    assert [(r.label, r.visitors, r.events, r.rate) for r in rows] == [
        ("Signup", "2", "2", "50%"),
        ("Visit /pricing", "2", "2", "50%"),
        ("Signup plan=pro", "1", "1", "25%"),
        ("Visit /signup", "1", "1", "25%"),
    ]
    assert rows[0].bar == "50%" and rows[2].bar == "25%"
    html = response.content.decode()
    assert 'id="goals"' in html and "Signup plan=pro" in html
    assert f'href="{reverse("goals:index", args=[goals.pk])}#goals">Manage goals' in html
    for listed in ("goals", "events"):  # every row of both lists, with the same query
        details = reverse("dashboard:details", args=[goals.pk, listed])
        assert f'href="{details}?{response.wsgi_request.GET.urlencode()}"' in html.replace(
            "&amp;", "&"
        )


def test_a_goal_filters_the_dashboard_keeping_the_period_and_the_filters(client, goals):
    response = get(client, goals, device="desktop", **DAY)
    signup = response.context["conversions"].goals.rows[0]
    assert query_of(signup.url) == day(device="desktop", goal="Signup")
    filtered = client.get(signup.url)
    assert filtered.status_code == 200
    # The visits that converted: A (two page views) and B (one).
    assert (kpi(filtered, "visitors"), kpi(filtered, "pageviews")) == ("2", "3")
    chips = {(c.label, c.value) for c in filtered.context["chips"]}
    assert ("Goal", "Signup") in chips
    rows = filtered.context["conversions"].goals.rows
    assert [r.label for r in rows if r.active] == ["Signup"]
    assert "goal" not in query_of(
        next(c for c in filtered.context["chips"] if c.name == "goal").remove_url
    )


def test_without_goals_the_panel_links_to_the_goals_page(client, traffic):
    response = get(client, traffic, **DAY)
    assert response.context["conversions"].goals.rows == []
    html = response.content.decode()
    assert "No goals yet." in html
    assert f'href="{reverse("goals:index", args=[traffic.pk])}#goals">Add a goal' in html


# --- custom events ----------------------------------------------------------------------


def test_the_events_panel_lists_events_by_name(client, traffic):
    response = get(client, traffic, **DAY)
    events = response.context["conversions"].events
    assert [(r.label, r.visitors, r.events) for r in events.rows] == [
        ("Signup", "2", "2"),
        ("Newsletter", "1", "1"),
    ]
    assert events.drilldown is None
    # A click opens the event's properties and keeps the period (and scrolls to the panel).
    url = events.rows[0].url
    assert url.endswith("#events")
    assert query_of(url.removesuffix("#events")) == day(event="Signup")


def test_an_event_opens_its_property_values_and_a_value_filters(client, traffic):
    response = get(client, traffic, event="Signup", **DAY)
    drill = response.context["conversions"].events.drilldown
    assert drill.event == "Signup" and drill.summary == "2 visitors, 2 events"
    [group] = drill.groups
    assert group.key == "plan"
    assert [(r.label, r.visitors, r.events, r.bar) for r in group.rows] == [
        ("free", "1", "1", "50%"),
        ("pro", "1", "1", "50%"),
    ]
    pro = group.rows[1]
    assert query_of(pro.url.removesuffix("#events")) == day(prop="plan=pro", event="Signup")
    assert query_of(drill.back_url.removesuffix("#events")) == day()
    html = response.content.decode()
    assert "All events</a>" in html and "Property</span> plan" in html

    filtered = client.get(pro.url)
    assert kpi(filtered, "visitors") == "1"
    chips = [(c.label, c.value) for c in filtered.context["chips"]]
    assert chips == [("Property plan", "pro")]
    rows = filtered.context["conversions"].events.drilldown.groups[0].rows
    assert [(r.label, r.active) for r in rows] == [("pro", True)]


def test_an_event_without_properties_says_so(client, traffic):
    response = get(client, traffic, event="Newsletter", **DAY)
    drill = response.context["conversions"].events.drilldown
    assert drill.groups == [] and drill.summary == "1 visitor, 1 event"
    assert "No properties were sent with this event in this period." in response.content.decode()
    unknown = get(client, traffic, event="Never sent", **DAY)
    assert unknown.status_code == 200
    assert unknown.context["conversions"].events.drilldown.summary == "Not sent in this period."


def test_the_panel_shows_ten_events_and_ten_values_per_property(client, website):
    ip = "198.51.100.1"
    events = [ev("PAGE_VIEW", "/", D, ip)]
    # "e0" to "e9" sent 21 to 12 times; "e10" 11 times (11 values of "v"), past the ten rows.
    for n in range(10):
        events += [ev("EVENT", "/", D + k * S, ip, name=f"e{n}") for k in range(21 - n)]
    events += [ev("EVENT", "/", D + n * S, ip, name="e10", props={"v": str(n)}) for n in range(11)]
    record_events(website, events)
    response = get(client, website, **DAY)
    rows = response.context["conversions"].events.rows
    assert len(rows) == 10 and "e10" not in [r.label for r in rows]
    response = get(client, website, event="e10", **DAY)
    drill = response.context["conversions"].events.drilldown
    assert drill.summary == "1 visitor, 11 events"
    [group] = drill.groups
    assert (len(group.rows), group.more) == (10, 1)
    assert "and 1 more value (all of them in the CSV export)" in response.content.decode()


def test_without_events_the_panel_shows_how_to_send_one(client, website):
    record_events(website, [ev("PAGE_VIEW", "/", D, "198.51.100.1")])
    response = get(client, website, **DAY)
    assert response.context["conversions"].events.rows == []
    html = response.content.decode()
    assert "No custom events in this period." in html
    assert "sa(&quot;event&quot;, &quot;Signup&quot;, {plan: &quot;pro&quot;})" in html
    assert EXAMPLE_CALL == 'sa("event", "Signup", {plan: "pro"})'
    # The stub is shown as text (never run), as docs/TRACKER.md has it.
    assert "&lt;script&gt;window.sa=window.sa||function(){(sa.q=sa.q||[]).push(arguments)}" in html
    with open("docs/TRACKER.md", encoding="utf-8") as fh:
        assert STUB in fh.read()
    # With filters, no snippet: the events exist, just not in these visits.
    filtered = get(client, website, page="/nowhere", **DAY).content.decode()
    assert "No custom events in this period with these filters." in filtered
    assert "window.sa=" not in filtered


# --- funnel ---------------------------------------------------------------------------


def test_the_funnel_shows_each_step_with_conversion_and_dropoff(client, goals):
    response = get(client, goals, **DAY)
    funnel = response.context["conversions"].funnel
    assert funnel.chosen == FUNNEL and funnel.names == [FUNNEL]
    assert [(s.name, s.visits, s.rate, s.bar, s.dropoff) for s in funnel.steps] == [
        ("Visit /pricing", "2", "100%", "100%", ""),
        ("Visit /signup", "1", "50%", "50%", "50% dropped off (1 visit)"),
        ("Signup", "1", "50%", "50%", "0% dropped off (0 visits)"),
    ]
    assert (
        funnel.summary == "2 visits reached “Visit /pricing”; 1 of them (50%) went on to “Signup”."
    )
    html = re.sub(r"\s+", " ", response.content.decode())
    # The numbers are text beside the bars, not only bar widths.
    assert (
        '<strong title="2 visits">2</strong> visits <span class="funnel-rate">100%</span>' in html
    )
    assert "50% dropped off (1 visit)" in html
    # One funnel: nothing to choose.
    assert 'name="funnel"' not in html


def test_a_funnel_is_chosen_by_name_with_a_plain_form(client, goals):
    funnel_create(website=goals, name="Short", steps=["Visit /pricing", "Signup"])
    response = get(client, goals, funnel="Short", device="desktop", **DAY)
    funnel = response.context["conversions"].funnel
    assert funnel.names == [FUNNEL, "Short"] and funnel.chosen == "Short"
    assert [(s.name, s.visits, s.rate) for s in funnel.steps] == [
        ("Visit /pricing", "2", "100%"),
        ("Signup", "2", "100%"),
    ]
    html = response.content.decode()
    # A GET form that works without JavaScript and keeps the period and the filters.
    form = re.search(r'<form method="get"[^>]*class="funnel-pick">(.*?)</form>', html, re.S)
    assert form is not None
    body = form.group(1)
    for name, value in {**DAY, "device": "desktop"}.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in body
    assert '<option value="Short" selected>Short</option>' in body
    assert '<button type="submit"' in body
    # The other links keep the funnel chosen.
    assert query_of(response.context["period_links"][0].url)["funnel"] == ["Short"]
    goal_row = response.context["conversions"].goals.rows[0]
    assert query_of(goal_row.url)["funnel"] == ["Short"]


def test_an_unknown_funnel_shows_the_first_and_says_so(client, goals):
    response = get(client, goals, funnel="Deleted since", **DAY)
    assert response.status_code == 200
    funnel = response.context["conversions"].funnel
    assert funnel.chosen == FUNNEL and funnel.missing == "Deleted since"
    assert "There is no funnel “Deleted since”" in response.content.decode()


def test_without_funnels_the_panel_links_to_the_goals_page(client, traffic):
    response = get(client, traffic, **DAY)
    funnel = response.context["conversions"].funnel
    assert funnel.chosen == "" and funnel.steps == []
    html = response.content.decode()
    assert "No funnels yet." in html
    assert f'href="{reverse("goals:index", args=[traffic.pk])}#funnels">Add a funnel' in html


# --- the view parameters, access, escaping -------------------------------------------------


def test_view_parameters_survive_every_link_and_the_custom_range_form(client, goals):
    response = get(client, goals, event="Signup", funnel=FUNNEL, goal="Signup", **DAY)
    context = response.context
    for url in [link.url for link in context["period_links"]] + [
        context["before_url"],
        context["clear_url"],
        *(chip.remove_url for chip in context["chips"]),
    ]:
        query = query_of(url)
        assert query["event"] == ["Signup"] and query["funnel"] == [FUNNEL], url
    html = response.content.decode()
    assert '<input type="hidden" name="event" value="Signup">' in html
    assert f'<input type="hidden" name="funnel" value="{FUNNEL}">' in html


def test_overlong_or_broken_view_parameters_are_ignored(client, traffic):
    for value in ("x" * 201, "a\x00b", "   "):
        response = get(client, traffic, event=value, funnel=value, **DAY)
        assert response.status_code == 200
        assert response.context["conversions"].events.drilldown is None


def test_outsiders_get_a_404_for_every_view(goals):
    outsider = Client()
    outsider.force_login(make_user("outsider@example.com"))
    for query in ({"event": "Signup"}, {"funnel": FUNNEL}, {"goal": "Signup"}, {}):
        assert get(outsider, goals, **query, **DAY).status_code == 404
        missing = outsider.get(reverse("dashboard:overview", args=[goals.pk + 1000]), query)
        assert missing.status_code == 404
        export = outsider.get(reverse("dashboard:export", args=[goals.pk]), query)
        assert export.status_code == 404
    anonymous = get(Client(), goals, event="Signup", **DAY)
    assert anonymous.status_code == 302


def test_no_inline_styles_or_scripts_in_the_conversion_panels(client, goals):
    for query in ({}, {"event": "Signup"}, {"funnel": FUNNEL, "prop": "plan=pro"}):
        html = get(client, goals, **query, **DAY).content.decode()
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert not re.search(r"\son[a-z]+=", html)


def test_hostile_event_names_and_values_are_text(client, website):
    evil = "<img src=x onerror=alert(1)>"
    record_events(
        website,
        [
            ev("PAGE_VIEW", "/", D, "198.51.100.1"),
            ev("EVENT", "/", D + S, "198.51.100.1", name=evil, props={evil: evil}),
        ],
    )
    goal_create(website=website, kind=GoalKind.EVENT, event_name=evil)
    for query in ({}, {"event": evil}, {"prop": f"{evil}={evil}"}, {"goal": evil}):
        html = get(client, website, **query, **DAY).content.decode()
        assert evil not in html, query
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, query
