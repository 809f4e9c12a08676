"""Custom events, their properties, goals and funnels: exact from raw data, the same from
closed days' snapshots, kept after retention, backfilled for goals defined later, and in
the stats JSON of the CLI and the API."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from api.models import ApiKey
from goals.selectors import funnel_get
from goals.services import funnel_create, funnel_delete, goal_create, goal_delete
from rollups import fill, retention
from rollups.models import Granularity
from simple_analytics.testing import IPHONE_UA, make_user, make_website, record_events
from stats import cache as stats_cache
from stats import conversions, planner, queries
from stats.filters import Filters
from stats.periods import for_days
from tracking.models import Event

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


def traffic(website, start=NOON):
    """Three visitors on one day: A reads the blog, prices, signs up (pro); B prices and
    signs up (free) twice; C only reads. D signs up without a page view."""

    def ev(visitor, minutes, kind, path, **extra):
        return {
            "type": kind,
            "url": f"https://example.com{path}",
            "at": start + minutes * MIN,
            "ip": f"198.51.100.{visitor}",
            "user_agent": IPHONE_UA,
            **extra,
        }

    return [
        ev(1, 0, "PAGE_VIEW", "/blog/a"),
        ev(1, 1, "PATH_CHANGE", "/pricing"),
        ev(1, 2, "EVENT", "/pricing", name="Signup", props={"plan": "pro", "seats": 3}),
        ev(2, 0, "PAGE_VIEW", "/pricing"),
        ev(2, 1, "EVENT", "/pricing", name="Signup", props={"plan": "free"}),
        ev(2, 2, "EVENT", "/pricing", name="Signup", props={"plan": "free"}),
        ev(3, 5, "PAGE_VIEW", "/blog/b"),
        ev(4, 7, "EVENT", "/app", name="Signup"),
    ]


def define(website):
    goal_create(website=website, kind="event", event_name="Signup")
    goal_create(
        website=website, kind="event", event_name="Signup", prop_key="plan", prop_value="pro"
    )
    goal_create(website=website, kind="page", page_pattern="/blog/*", name="Blog")
    goal_create(website=website, kind="event", event_name="Never sent")
    goal_create(website=website, kind="page", page_pattern="/pricing", name="Pricing")
    funnel_create(website=website, name="buy", steps=["Pricing", "Signup"])
    funnel_create(
        website=website, name="read then buy", steps=["Blog", "Pricing", "Signup plan=pro"]
    )


@pytest.fixture
def site():
    website = make_website(owner=make_user(), timezone="UTC")
    define(website)
    record_events(website, traffic(website))
    return website


def day(website):
    return for_days(NOON.date(), NOON.date(), website.tz)


def test_events_goals_properties_and_funnels_are_exact(site):
    period = day(site)
    # Four visitors, one of them (D) only through an event.
    assert queries.summary(site, period).visitors == 4
    assert queries.events(site, period) == [queries.EventRow("Signup", 3, 4)]
    assert queries.goals(site, period) == [
        queries.GoalRow("Signup", 3, 4, 0.75),
        queries.GoalRow("Blog", 2, 2, 0.5),
        queries.GoalRow("Pricing", 2, 2, 0.5),
        queries.GoalRow("Signup plan=pro", 1, 1, 0.25),
        queries.GoalRow("Never sent", 0, 0, 0.0),
    ]
    assert queries.properties(site, period, "Signup") == [
        ("plan", "free", 1, 2),
        ("plan", "pro", 1, 1),
        ("seats", "3", 1, 1),
    ]
    assert queries.properties(site, period, "signup") == []  # names are case-sensitive
    buy = funnel_get(site, "buy")
    assert buy is not None
    assert queries.funnel(site, period, buy) == [
        queries.FunnelStep("Pricing", 2, 1.0, 0.0),
        queries.FunnelStep("Signup", 2, 1.0, 0.0),
    ]
    read = funnel_get(site, "read then buy")
    assert read is not None
    # Only A read the blog, then priced, then signed up pro; C stopped after the blog.
    assert queries.funnel(site, period, read) == [
        queries.FunnelStep("Blog", 2, 1.0, 0.0),
        queries.FunnelStep("Pricing", 1, 0.5, 0.5),
        queries.FunnelStep("Signup plan=pro", 1, 0.5, 0.0),
    ]


def test_a_funnel_counts_steps_in_order_only():
    website = make_website(owner=make_user(), timezone="UTC")
    define(website)
    # Signed up first, then looked at prices: step 1 only.
    record_events(
        website,
        [
            {"type": "EVENT", "name": "Signup", "url": "https://example.com/x", "at": NOON},
            {"type": "PAGE_VIEW", "url": "https://example.com/pricing", "at": NOON + MIN},
        ],
    )
    buy = funnel_get(website, "buy")
    assert buy is not None
    steps = queries.funnel(website, day(website), buy)
    assert [s.visits for s in steps] == [1, 0]
    assert steps[1].dropoff_rate == 1.0


@pytest.mark.parametrize("chunk", [1, 2, 1000])
def test_funnels_read_in_chunks_of_visits_count_the_same(site, monkeypatch, chunk):
    """Visits' events are read a chunk of visits at a time: a visit is never split, so any
    chunk size gives the same steps (four visits here)."""
    monkeypatch.setattr(conversions, "FUNNEL_CHUNK", chunk)
    start = dt.datetime.combine(NOON.date(), dt.time(), dt.UTC)
    funnels = [funnel_get(site, "buy"), funnel_get(site, "read then buy")]
    assert None not in funnels
    rows = conversions.funnel_rows(site.id, start, start + dt.timedelta(days=1), Filters(), funnels)
    buy, read = (f.id for f in funnels if f is not None)
    assert rows == {
        conversions.funnel_step(buy, 1): [2, 0],
        conversions.funnel_step(buy, 2): [2, 0],
        conversions.funnel_step(read, 1): [2, 0],
        conversions.funnel_step(read, 2): [1, 0],
        conversions.funnel_step(read, 3): [1, 0],
    }


def test_filters_apply_to_conversions(site):
    period = day(site)
    # Sessions that entered on a blog page: A and C.
    blog = Filters(entry_page="/blog/a")
    assert queries.events(site, period, filters=blog) == [queries.EventRow("Signup", 1, 1)]
    goals = {g.value: g for g in queries.goals(site, period, filters=blog)}
    assert goals["Signup"] == queries.GoalRow("Signup", 1, 1, 1.0)


def test_closed_days_answer_from_snapshots_exactly_and_after_retention(site):
    now = NOON + dt.timedelta(days=20)
    for granularity in (Granularity.HOUR, Granularity.DAY):
        fill.rollup(site, granularity, now=now)
    periods = [day(site), for_days(NOON.date() - dt.timedelta(days=3), NOON.date(), site.tz)]

    def answers():
        out = []
        for p in periods:
            out += [queries.events(site, p), queries.goals(site, p)]
            out += [queries.properties(site, p, "Signup")]
            out += [queries.funnel(site, p, f) for f in site.funnels.all()]
        return out

    with planner.raw_only():
        expected = answers()
    assert answers() == expected
    with override_settings(RAW_RETENTION_DAYS=7):
        retention.prune_website(site, now=now)
    assert not Event.objects.filter(website=site).exists()
    assert answers() == expected


def test_a_goal_defined_later_is_backfilled_from_the_raw_data_still_kept(
    django_capture_on_commit_callbacks,
):
    website = make_website(owner=make_user(), timezone="UTC")
    now = timezone.now()
    past = (now - dt.timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    record_events(website, traffic(website, start=past))
    for granularity in (Granularity.HOUR, Granularity.DAY):
        fill.rollup(website, granularity, now=now)
    period = for_days(past.date(), past.date(), website.tz)
    with django_capture_on_commit_callbacks(execute=True):
        goal_create(website=website, kind="event", event_name="Signup")
    # Reopened: answered from raw data at once, until the periodic rollup closes it again.
    assert queries.goals(website, period) == [queries.GoalRow("Signup", 3, 4, 0.75)]
    fill.catch_up(website, now=now)
    # Closed again, with the goal's rows: snapshots answer it, and keep it after retention.
    with override_settings(RAW_RETENTION_DAYS=1):
        retention.prune_website(website, now=now)
    assert not Event.objects.filter(
        website=website, created_at__lt=past + dt.timedelta(days=1)
    ).exists()
    assert queries.goals(website, period) == [queries.GoalRow("Signup", 3, 4, 0.75)]


def test_the_cli_prints_goals_events_and_funnels(site):
    out = io.StringIO()
    dates = {"from_": "2026-03-10", "to": "2026-03-10"}
    call_command("stats", site=site.tracking_id, json=True, stdout=out, **dates)
    data = json.loads(out.getvalue())
    assert data["events"] == [{"value": "Signup", "visitors": 3, "events": 4}]
    assert data["goals"][0] == {
        "value": "Signup",
        "visitors": 3,
        "events": 4,
        "conversion_rate": 0.75,
    }
    out = io.StringIO()
    call_command("stats", site=site.tracking_id, funnel="buy", json=True, stdout=out, **dates)
    assert json.loads(out.getvalue()) == {
        "funnel": "buy",
        "steps": [
            {"value": "Pricing", "visits": 2, "conversion_rate": 1.0, "dropoff_rate": 0.0},
            {"value": "Signup", "visits": 2, "conversion_rate": 1.0, "dropoff_rate": 0.0},
        ],
    }
    with pytest.raises(CommandError, match="no funnel named 'nope'"):
        call_command("stats", site=site.tracking_id, funnel="nope", stdout=io.StringIO())


def test_the_api_breaks_down_goals_events_and_properties(site, client: Client):
    _, key = ApiKey.issue(user=site.owner, name="test")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    params = {"site": site.tracking_id, "from": "2026-03-10", "to": "2026-03-10"}

    def get(dimension, **extra):
        return client.get(f"/api/v1/breakdown/{dimension}", {**params, **extra}, **auth)

    goals = get("goals", limit="2").json()
    assert goals["results"] == [
        {"value": "Signup", "visitors": 3, "events": 4, "conversion_rate": 0.75},
        {"value": "Blog", "visitors": 2, "events": 2, "conversion_rate": 0.5},
    ]
    assert get("events").json()["results"] == [{"value": "Signup", "visitors": 3, "events": 4}]
    props = get("events", event="Signup").json()["results"]
    assert props[0] == {"key": "plan", "value": "free", "visitors": 1, "events": 2}
    refused = get("pages", event="Signup")
    assert refused.status_code == 400 and "event" in refused.json()["error"]
    assert get("nope").status_code == 404


def test_goal_and_property_filters_keep_the_visits_that_converted(site):
    period = day(site)
    converted = Filters.from_query({"goal": "Signup"})
    assert planner.snapshot_filter(converted) == planner.RAW
    s = queries.summary(site, period, filters=converted)
    # A, B and D signed up; their page views: A 2, B 1, D none.
    assert (s.visitors, s.sessions, s.pageviews) == (3, 3, 3)
    pages = queries.breakdown(site, period, "pages", filters=converted)
    assert [(r.value, r.pageviews) for r in pages] == [("/pricing", 2), ("/blog/a", 1)]
    pro = Filters.from_query({"prop": "plan=pro"})
    assert queries.summary(site, period, filters=pro).visitors == 1
    both = Filters(goal="Blog", prop="plan=free")  # B never read the blog
    assert queries.summary(site, period, filters=both).visitors == 0
    assert queries.summary(site, period, filters=Filters(goal="No such goal")).visitors == 0
    # Conversions under a conversion filter: the events of those visits only.
    assert queries.events(site, period, filters=pro) == [queries.EventRow("Signup", 1, 1)]


def test_the_api_filters_by_goal(site, client: Client):
    _, key = ApiKey.issue(user=site.owner, name="test")
    response = client.get(
        "/api/v1/stats",
        {"site": site.tracking_id, "from": "2026-03-10", "to": "2026-03-10", "goal": "Blog"},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200
    assert response.json()["visitors"] == 2


def test_any_property_key_can_be_a_goal_or_a_filter():
    website = make_website(owner=make_user(), timezone="UTC")
    odd = 'a.b"c__d $[0]'
    goal_create(website=website, kind="event", event_name="E", prop_key=odd, prop_value="1")
    record_events(
        website,
        [
            {"type": "EVENT", "name": "E", "props": {odd: 1}, "at": NOON},
            {"type": "EVENT", "name": "E", "props": {"a": 1}, "at": NOON, "ip": "198.51.100.7"},
        ],
    )
    period = day(website)
    (goal,) = queries.goals(website, period)
    assert (goal.visitors, goal.events) == (1, 1)
    assert queries.summary(website, period, filters=Filters(prop=f"{odd}=1")).visitors == 1


def test_cached_answers_follow_goals_and_funnels_defined_or_deleted(
    site, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """The cache keys hold no definitions: saving or deleting one expires the answers at
    once, before a worker has run the backfill."""
    queued: list[int] = []
    monkeypatch.setattr("jobs.tasks.backfill_conversions", queued.append)
    settings.STATS_CACHE = True
    cache.clear()
    stats_cache.forget()
    period = day(site)
    names = lambda: [row.value for row in queries.goals(site, period, limit=None)]  # noqa: E731
    before = names()
    assert "Blog" in before and names() == before  # the second read is a cache hit
    with django_capture_on_commit_callbacks(execute=True):
        goal = goal_create(website=site, kind="page", page_pattern="/blog/b", name="Post B")
    assert sorted(names()) == sorted([*before, "Post B"])
    with django_capture_on_commit_callbacks(execute=True):
        goal_delete(goal=goal)
    assert names() == before
    assert queued == [site.id]
    steps = lambda: [s.value for s in queries.funnel(site, period, funnel_get(site, "buy"))]  # noqa: E731
    assert steps() == ["Pricing", "Signup"]
    with django_capture_on_commit_callbacks(execute=True):
        funnel_delete(funnel=funnel_get(site, "buy"))
        funnel_create(website=site, name="buy", steps=["Blog", "Signup"])
    assert steps() == ["Blog", "Signup"]
