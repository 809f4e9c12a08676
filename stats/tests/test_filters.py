"""Filter operators: their query-string form, their checks, and what the database answers
for them against the same condition applied in Python to the stored rows."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simple_analytics.testing import DESKTOP_UA, IPHONE_UA, make_website, record_events
from stats import planner, queries
from stats.filters import NO_FILTERS, Condition, FilterError, Filters, Op, parse
from stats.periods import for_days
from tracking.models import PAGEVIEW_TYPES, Event, Session

D = dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC)
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

values_text = st.text(alphabet="ab|!~\\(none) /", max_size=8).filter(lambda v: v != "(none)")
conditions = st.builds(
    Condition,
    st.sampled_from(list(Op)),
    st.lists(values_text, min_size=1, max_size=4, unique=True).map(tuple),
)


@given(conditions)
def test_a_condition_reads_back_from_its_query_string_form(condition):
    assert parse(condition.encode()) == condition


@pytest.mark.parametrize(
    ("text", "op", "values"),
    [
        ("Google", Op.IS, ("Google",)),
        ("Google|Bing", Op.IS, ("Google", "Bing")),
        ("(none)|Google", Op.IS, ("", "Google")),
        ("!Google", Op.IS_NOT, ("Google",)),
        ("~blog|docs", Op.CONTAINS, ("blog", "docs")),
        ("\\!important", Op.IS, ("!important",)),
        ("a\\|b|c", Op.IS, ("a|b", "c")),
        ("a|a", Op.IS, ("a",)),
    ],
)
def test_the_query_string_form(text, op, values):
    assert parse(text) == Condition(op, values)
    assert Filters.from_query({"source": text}).condition("source") == Condition(op, values)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"country": "~D"}, "stored as a code"),
        ({"page": "~(none)"}, "contains needs a text"),
        ({"goal": "Signup|Buy"}, "one value"),
        ({"prop": "!plan=pro"}, "one value"),
        ({"source": "|".join(str(i) for i in range(21))}, "1 to 20 values"),
        ({"source": "x" * 3000}, "too long"),
    ],
)
def test_filters_that_cannot_be_asked_are_refused_with_the_reason(query, message):
    with pytest.raises(FilterError, match=message):
        Filters.from_query(query)


def test_only_one_session_value_is_answered_from_snapshots():
    assert planner.snapshot_filter(NO_FILTERS) is None
    assert planner.snapshot_filter(Filters(source="Google")) == ("source", "Google")
    for query in ({"source": "Google|Bing"}, {"source": "!Google"}, {"source": "~goo"}):
        assert planner.snapshot_filter(Filters.from_query(query)) == planner.RAW


def test_marked_rows_and_the_goal_follow_the_operator():
    f = Filters.from_query({"source": "Google|Bing", "page": "!/a", "goal": "Signup"})
    assert f.selects("source", "Bing") and not f.selects("page", "/a")
    assert f.get("source") is None and f.goal == "Signup"
    assert f.replace(source="Bing").active() == {"source": "Bing", "page": "!/a", "goal": "Signup"}


VISITS = [
    # (address, user agent, referrer, pages)
    ("198.51.100.1", DESKTOP_UA, "https://www.google.com/", ["/", "/Blog/a"]),
    ("198.51.100.2", IPHONE_UA, "", ["/pricing"]),
    ("198.51.100.3", FIREFOX_UA, "https://www.bing.com/", ["/docs", "/blog/b", "/"]),
    ("198.51.100.4", DESKTOP_UA, "https://news.ycombinator.com/", ["/blog/a"]),
    ("198.51.100.5", IPHONE_UA, "https://www.google.com/", ["/docs"]),
]
FIELDS = {"source": "source", "browser": "browser", "device": "device", "entry_page": "entry_path"}
CHOICES = {
    "source": ["Google", "Bing", "", "oo", "Hacker News"],
    "browser": ["Firefox", "Chrome", "Safari", "fi"],
    "device": ["mobile", "desktop"],
    "entry_page": ["/", "/pricing", "/docs", "blog", "/B"],
    "page": ["/", "/blog/a", "/Blog/a", "blog", "DOCS", "/pricing"],
}


@pytest.fixture(scope="module")
def traffic(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        website = make_website()
        events = []
        for n, (ip, ua, referrer, pages) in enumerate(VISITS):
            at = D + dt.timedelta(minutes=n)
            for i, path in enumerate(pages):
                events.append(
                    {
                        "type": "PAGE_VIEW" if i == 0 else "PATH_CHANGE",
                        "url": f"https://example.com{path}",
                        "at": at + dt.timedelta(seconds=10 * i),
                        "ip": ip,
                        "user_agent": ua,
                        "referrer": referrer if i == 0 else "",
                    }
                )
        record_events(website, events)
        yield website
        website.delete()


def _condition(name):
    codes = name == "device"
    ops = [Op.IS, Op.IS_NOT] if codes else list(Op)
    return st.builds(
        Condition,
        st.sampled_from(ops),
        st.lists(st.sampled_from(CHOICES[name]), min_size=1, max_size=3, unique=True).map(tuple),
    ).filter(lambda c: not (c.op == Op.CONTAINS and "" in c.values))


filter_sets = st.dictionaries(
    st.sampled_from(sorted(CHOICES)), st.none(), min_size=1, max_size=3
).flatmap(lambda names: st.fixed_dictionaries({n: _condition(n) for n in names}))


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chosen=filter_sets)
def test_the_database_keeps_exactly_the_rows_the_condition_keeps(traffic, chosen):
    """Sessions: their own value, and a page filter kept by one of their page views."""
    website = traffic
    filters = Filters(**chosen)
    page = chosen.get("page")
    sessions = []
    for s in Session.objects.filter(website=website):
        if not all(c.matches(getattr(s, FIELDS[n])) for n, c in chosen.items() if n != "page"):
            continue
        paths = Event.objects.filter(session=s, type__in=PAGEVIEW_TYPES).values_list(
            "path", flat=True
        )
        if page is None or any(page.matches(p) for p in paths):
            sessions.append(s)
    views = [
        e
        for s in sessions
        for e in Event.objects.filter(session=s, type__in=PAGEVIEW_TYPES)
        if page is None or page.matches(e.path)
    ]
    period = for_days(D.date(), D.date(), website.tz)
    got = queries.summary(website, period, filters=filters)
    assert got.sessions == len(sessions)
    assert got.visitors == len({s.visitor_id for s in sessions})
    assert got.pageviews == len(views)
    rows = {
        r.value: r.pageviews for r in queries.breakdown(website, period, "pages", filters=filters)
    }
    expected: dict[str, int] = {}
    for e in views:
        expected[e.path] = expected.get(e.path, 0) + 1
    assert rows == expected


@pytest.mark.django_db
def test_several_values_add_up_and_is_not_is_the_rest(traffic):
    website = traffic
    period = for_days(D.date(), D.date(), website.tz)

    def sessions(**query):
        return queries.summary(website, period, filters=Filters.from_query(query)).sessions

    total = queries.summary(website, period).sessions
    assert (
        sessions(source="Google|Bing") == sessions(source="Google") + sessions(source="Bing") == 3
    )
    assert sessions(source="!Google") == total - sessions(source="Google") == 3
    assert sessions(source="~OO") == sessions(source="Google") == 2  # ignoring case
    assert sessions(page="~blog") == 3  # "/Blog/a" too
