"""Snapshots answer exactly what raw data answers (property-based, both databases).

Random traffic over several weeks in several time zones goes in through the real write
path; the rollups close every finished hour and day and the refresh job fills the open
ones. Then every stats function, for many periods and filters, must give the same answer
from snapshots (the planner) as from raw data — and still the same after retention has
deleted the raw rows of the closed days.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core.calendar import local_midnight
from goals.selectors import funnel_list
from goals.services import funnel_create, goal_create
from rollups import fill, retention
from rollups.models import Granularity, Snapshot
from simple_analytics.testing import (
    DESKTOP_UA,
    IPHONE_UA,
    LONDON_IP,
    MUNICH_IP,
    city_database,
    make_user,
    make_website,
    record_events,
)
from stats import planner, queries
from stats.dimensions import BREAKDOWNS, BY_BREAKDOWN, BY_NAME
from stats.filters import NO_FILTERS, Filters
from stats.periods import for_days, from_query
from tracking.models import Event, Session

pytestmark = [pytest.mark.django_db(transaction=False), pytest.mark.slow]

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
]
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
AGENTS = [DESKTOP_UA, IPHONE_UA, FIREFOX_UA]
REFERRERS = ["", "https://www.google.com/", "https://news.ycombinator.com/item?id=1"]
UTMS = [
    "",
    "?utm_source=newsletter&utm_campaign=spring&utm_medium=email&utm_content=hero",
    "?utm_source=twitter&utm_term=shoes",
]
PATHS = ["/", "/pricing", "/blog/a", "/docs"]
# Visitors' addresses: two a City database places, two only the embedded data, two nowhere.
IPS = [LONDON_IP, MUNICH_IP, "8.8.8.8", "1.1.1.1", "198.51.100.4", "198.51.100.5"]
LANGUAGES = ["", "de-DE,de;q=0.9", "en-US", "pt-BR;q=0.5,fr"]
SCREENS = [None, 390, 1280, 1920]
DAYS_BACK = 75  # so that whole months close (monthly snapshots)

visit = st.fixed_dictionaries(
    {
        "day": st.integers(0, DAYS_BACK),
        "minute": st.integers(0, 24 * 60 - 1),
        "visitor": st.integers(0, 5),
        "agent": st.sampled_from(AGENTS),
        "language": st.sampled_from(LANGUAGES),
        "screen": st.sampled_from(SCREENS),
        "referrer": st.sampled_from(REFERRERS),
        "utm": st.sampled_from(UTMS),
        # (path, minutes since the previous event) — gaps over 30 minutes start a new session
        "pages": st.lists(
            st.tuples(st.sampled_from(PATHS), st.integers(0, 45)), min_size=1, max_size=4
        ),
        "spa": st.booleans(),
        "exit": st.booleans(),
        # Each page's report (engaged ms, deepest scroll or None), sent by the path change
        # that leaves it or by the exit; "again": hidden, shown again and hidden again.
        "engaged": st.lists(
            st.tuples(st.integers(0, 600_000), st.one_of(st.none(), st.integers(0, 100))),
            min_size=4,
            max_size=4,
        ),
        "again": st.booleans(),
        # Custom events: (where, name, props). Where: just before that page (0 opens the
        # visit), just after the last page, or 40 minutes later (a visit of no page views).
        "custom": st.lists(
            st.tuples(
                st.integers(0, 5),
                st.sampled_from(["Signup", "Download"]),
                st.sampled_from([None, {"plan": "pro", "seats": 3}]),
            ),
            max_size=2,
        ),
    }
)


def _events(website, visits, now):
    out = []
    for v in visits:
        at = now - dt.timedelta(days=v["day"]) - dt.timedelta(minutes=v["minute"])
        if at >= now - dt.timedelta(minutes=1):
            continue
        common = {
            "ip": IPS[v["visitor"]],
            "user_agent": v["agent"],
            "accept_language": v["language"],
        }
        for i, (path, gap) in enumerate(v["pages"]):
            at = min(at + dt.timedelta(minutes=gap), now - dt.timedelta(seconds=30))
            last = i == len(v["pages"]) - 1
            for where, name, props in v["custom"]:
                if where == i:
                    shift = dt.timedelta(seconds=-5)
                elif last and where == i + 1:
                    shift = dt.timedelta(seconds=10)
                elif last and where > i + 1:
                    shift = dt.timedelta(minutes=40)
                else:
                    continue
                out.append(
                    {
                        **common,
                        "type": "EVENT",
                        "name": name,
                        "props": props,
                        "at": min(at + shift, now - dt.timedelta(seconds=20)),
                        "url": f"https://{website.domain}{path}{v['utm'] if i == 0 else ''}",
                        "referrer": v["referrer"] if i == 0 else "",
                    }
                )
            kind = "PATH_CHANGE" if v["spa"] and i else "PAGE_VIEW"
            out.append(
                {
                    **common,
                    "screen": v["screen"],
                    "type": kind,
                    "at": at,
                    "url": f"https://{website.domain}{path}{v['utm'] if i == 0 else ''}",
                    "referrer": v["referrer"] if i == 0 else "",
                    **(_report(v["engaged"][i - 1]) if kind == "PATH_CHANGE" else {}),
                }
            )
        if v["exit"]:
            ms, depth = v["engaged"][len(v["pages"]) - 1]
            reports = [(ms, depth)]
            if v["again"]:  # the later report: new time, the same or a deeper scroll
                reports = [(ms // 2, depth), (ms - ms // 2, None if depth is None else 100)]
            for k, report in enumerate(reports):
                out.append(
                    {
                        **common,
                        "type": "PAGE_EXIT",
                        **_report(report),
                        "at": min(at + dt.timedelta(seconds=20 + k), now - dt.timedelta(seconds=1)),
                        "url": f"https://{website.domain}{v['pages'][-1][0]}",
                    }
                )
    out.sort(key=lambda e: e["at"])
    return out


def _report(report: tuple[int, int | None]) -> dict[str, int]:
    ms, depth = report
    return {"engaged_ms": ms} if depth is None else {"engaged_ms": ms, "scroll_pct": depth}


def _periods(website, now):
    tz = website.tz
    today = now.astimezone(tz).date()
    periods = [
        from_query({"period": key}, tz, now=now)
        for key in ("today", "yesterday", "7d", "30d", "last_month")
    ]

    periods += [periods[0].previous(), periods[2].previous()]
    periods.append(for_days(today - dt.timedelta(days=DAYS_BACK + 1), today, tz))
    for back in (2, 12):
        day = today - dt.timedelta(days=back)
        periods.append(for_days(day, day, tz))
    periods.append(for_days(today - dt.timedelta(days=13), today - dt.timedelta(days=9), tz))
    return periods


def _filters():
    """Filters to ask with. One session filter "is" one value is what snapshots answer;
    the page filter, other operators and several filters are answered from raw data."""
    values = {
        "source": ["Google", ""],
        "browser": ["Firefox"],
        "utm_source": ["newsletter"],
        "entry_page": ["/pricing"],
        "device": ["mobile"],
        "country": ["DE", ""],
        "city": ["London"],
        "language": ["de"],
        "screen": ["laptop"],
        "utm_term": ["shoes"],
    }
    out = [NO_FILTERS, Filters(page="/blog/a"), Filters(source="Google", browser="Firefox")]
    # Other operators and several values: the planner answers them from raw data.
    out += [
        Filters.from_query(q)
        for q in (
            {"source": "Google|(none)"},
            {"source": "!Google"},
            {"country": "!DE|(none)"},
            {"page": "~BLOG|docs"},
            {"page": "!/blog/a"},
            {"entry_page": "~pric", "browser": "!Firefox"},
            {"utm_source": "newsletter|twitter", "device": "mobile|desktop"},
        )
    ]
    return out + [Filters(**{name: v}) for name, vs in values.items() for v in vs]


def _dimensions(f):
    sf = planner.snapshot_filter(f)
    if sf is None:
        return BREAKDOWNS
    if sf == planner.RAW:
        return ("pages",)
    return (BY_NAME[sf[0]].breakdown, "pages")


def _answers(website, periods, filters, *, whole_days_only=False):
    out = {}
    for i, p in enumerate(periods):
        whole = for_days(p.first_day, p.last_day, p.tz)
        if whole_days_only and (p.start, p.end) != (whole.start, whole.end):
            continue
        for f in filters:
            sf = planner.snapshot_filter(f)
            if whole_days_only and sf == planner.RAW:
                continue  # needs raw data by design (documented)
            out[(i, "summary", f)] = queries.summary(website, p, filters=f)
            if not (whole_days_only and p.granularity == "hour" and p.first_day < _cut(website)):
                out[(i, "timeseries", f)] = queries.timeseries(website, p, filters=f)
            for d in _dimensions(f):
                if whole_days_only and isinstance(sf, tuple) and (BY_BREAKDOWN[d].name != sf[0]):
                    continue
                out[(i, d, f)] = queries.breakdown(website, p, d, filters=f, limit=None)
            if not (whole_days_only and f.active()):  # filtered conversions read raw data
                out[(i, "events", f)] = queries.events(website, p, filters=f, limit=None)
                out[(i, "goals", f)] = queries.goals(website, p, filters=f, limit=None)
                out[(i, "props", f)] = queries.properties(
                    website, p, "Signup", filters=f, limit=None
                )
                for funnel in funnel_list(website):
                    out[(i, f"funnel {funnel.name}", f)] = queries.funnel(
                        website, p, funnel, filters=f
                    )
            if not whole_days_only and f in (NO_FILTERS, Filters(source="Google")):
                # The dashboard reads all breakdowns of a range in one query (planner.
                # one_state): the same answers as one by one. (Its previous period may
                # be a part-day, hence not after retention.)
                # A page asks its conversion panels after the bundle, sharing its rows.
                with queries.one_read():
                    out[(i, "dashboard", f)] = queries.dashboard(website, p, filters=f)
                    out[(i, "page conversions", f)] = (
                        queries.events(website, p, filters=f, limit=None),
                        queries.goals(website, p, filters=f, limit=None),
                        queries.properties(website, p, "Signup", filters=f, limit=None),
                        [queries.funnel(website, p, fu, filters=f) for fu in funnel_list(website)],
                    )
    return out


def _define_goals(website):
    """Goals of both kinds and funnels of page and event steps, defined before the traffic
    (``test_goals_defined_later_are_backfilled`` covers the other order)."""
    goal_create(website=website, kind="event", event_name="Signup")
    goal_create(
        website=website, kind="event", event_name="Signup", prop_key="plan", prop_value="pro"
    )
    goal_create(website=website, kind="page", page_pattern="/blog/*")
    goal_create(website=website, kind="page", page_pattern="/pricing")
    goal_create(website=website, kind="page", page_pattern="/**")
    funnel_create(website=website, name="buy", steps=["Visit /pricing", "Signup"])
    funnel_create(
        website=website, name="read", steps=["Visit /**", "Visit /blog/*", "Signup plan=pro"]
    )


_CUT: dict[int, dt.date] = {}


@pytest.fixture
def city_db(tmp_path):
    with override_settings(GEOIP_DATABASE=city_database(str(tmp_path / "city.mmdb"))):
        yield


def _cut(website):
    return _CUT.get(website.id, dt.date.min)


@settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # shrinking a database-heavy case takes minutes
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(zone=st.sampled_from(ZONES), visits=st.lists(visit, min_size=1, max_size=25))
def test_snapshots_answer_exactly_what_raw_data_answers(zone, visits, city_db):
    now = timezone.now().replace(microsecond=0)
    website = make_website(owner=make_user(), timezone=zone)
    _define_goals(website)
    events = _events(website, visits, now)
    record_events(website, events)
    for granularity in (Granularity.HOUR, Granularity.DAY):
        fill.rollup(website, granularity, now=now)
    fill.refresh_open(website, now=now)
    assert Snapshot.objects.filter(website=website).exists() == bool(events)

    periods = _periods(website, now)
    filters = _filters()
    with planner.raw_only():
        expected = _answers(website, periods, filters)
    assert _answers(website, periods, filters) == expected

    # Retention deletes the raw rows of closed days; whole-day answers stay identical.
    before = Event.objects.filter(website=website).count()
    with override_settings(RAW_RETENTION_DAYS=7):
        retention.prune_website(website, now=now)
    cutoff = now.astimezone(website.tz).date() - dt.timedelta(days=7)
    _CUT[website.id] = cutoff
    assert not Session.objects.filter(
        website=website, last_seen_at__lt=local_midnight(cutoff, website.tz)
    ).exists()
    assert Event.objects.filter(website=website).count() <= before
    after = _answers(website, periods, filters, whole_days_only=True)
    assert after == {k: v for k, v in expected.items() if k in after}
    assert len(after) > 100
