"""Page patterns and goal matching: examples, the SQL regex against the Python answer on
the configured database (SQLite, or PostgreSQL in the second pass), both against a plain
reference matcher, and the cost of hostile paths."""

from __future__ import annotations

import datetime as dt
import functools
import time

import pytest
from django.db.models import TextField, Value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from goals.matching import EVENT_TYPE, PAGEVIEW_TYPES, path_matches, pattern_regex
from goals.models import Goal, GoalKind
from goals.services import validate_page_pattern
from simple_analytics.testing import make_website, record_events
from tracking.models import PAGEVIEW_TYPES as TRACKING_PAGEVIEW_TYPES
from tracking.models import Event, EventType
from websites.models import Website


def reference(pattern: str, path: str) -> bool:
    """The definition, by brute force: ``**`` any characters, ``*`` any but "/", the rest
    literal, the whole path."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        token = "**" if pattern.startswith("**", i) else pattern[i]
        tokens.append(token)
        i += len(token)

    @functools.cache
    def match(t: int, p: int) -> bool:
        if t == len(tokens):
            return p == len(path)
        token = tokens[t]
        if token == "**":
            return any(match(t + 1, q) for q in range(p, len(path) + 1))
        if token == "*":
            q = p
            while not match(t + 1, q):
                if q == len(path) or path[q] == "/":
                    return False
                q += 1
            return True
        return p < len(path) and path[p] == token and match(t + 1, p + 1)

    return match(0, 0)


def in_database(pattern: str, paths: list[str]) -> list[bool]:
    """``path__regex`` of the configured database, on a text value per path."""
    regex = pattern_regex(pattern)
    out = []
    for path in paths:
        rows = Website.objects.annotate(path=Value(path, output_field=TextField()))
        out.append(rows.filter(path__regex=regex).exists())
    return out


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/", "/", True),
        ("/", "/a", False),
        ("/pricing", "/pricing", True),
        ("/pricing", "/pricing/", False),
        ("/pricing", "/pricing/x", False),
        ("/pricing", "/x/pricing", False),
        ("/blog/*", "/blog/hello", True),
        ("/blog/*", "/blog/", True),
        ("/blog/*", "/blog", False),
        ("/blog/*", "/blog/2024/hello", False),
        ("/blog/post-*", "/blog/post-1", True),
        ("/blog/post-*", "/blog/draft-1", False),
        ("/*/edit", "/42/edit", True),
        ("/*/edit", "/a/b/edit", False),
        ("/docs/**", "/docs/", True),
        ("/docs/**", "/docs/a/b/c", True),
        ("/docs/**", "/docs", False),
        ("/**/thanks", "/shop/order/thanks", True),
        ("/**/thanks", "/thanks", False),
        ("/**thanks", "/thanks", True),
        ("/**/checkout/**", "/eu/checkout/done", True),
        ("/**/checkout/**", "/eu/checkouts/done", False),
        ("/a***", "/a/b", True),  # a run of stars with ** in it is **
        ("/a.b", "/a.b", True),
        ("/a.b", "/aXb", False),
        ("/(x)+[y]{2}|$^\\?", "/(x)+[y]{2}|$^\\?", True),
        ("/(x)+[y]{2}|$^\\?", "/xxyy", False),
        ("/caf%C3%A9", "/caf%C3%A9", True),
        ("/café", "/café", True),
        ("/CASE", "/case", False),
        ("/a", "/a\n", False),  # Python's $ would match before the newline
        ("/a/**", "/a/\n", True),
        ("/a/*", "/a/x\ny", True),
    ],
)
def test_patterns_match_whole_paths(pattern, path, expected):
    assert path_matches(pattern, path) is expected
    assert reference(pattern, path) is expected


@pytest.mark.django_db
def test_the_database_agrees_on_the_examples():
    make_website()
    cases = [
        ("/blog/*", ["/blog/hello", "/blog/a/b", "/blog"]),
        ("/**/thanks", ["/a/b/thanks", "/thanks"]),
        ("/a", ["/a", "/a\n"]),
        ("/a/**", ["/a/\n/b"]),
        ("/(x)+[y]{2}|$^\\?", ["/(x)+[y]{2}|$^\\?", "/xxyy"]),
    ]
    for pattern, paths in cases:
        assert in_database(pattern, paths) == [path_matches(pattern, p) for p in paths]


# Characters that mean something to one of the regex engines, and path characters.
ALPHABET = "ab/-._~%*\\.^$|?+()[]{}#\n é"
patterns = st.lists(
    st.one_of(st.sampled_from(["*", "**", "/", "a", "b"]), st.sampled_from(ALPHABET)), max_size=10
).map(lambda pieces: "/" + "".join(pieces))


def paths_near(pattern: str) -> st.SearchStrategy[str]:
    """Paths likely to match: the pattern with its stars filled in (or not), and noise."""
    pieces = st.text(alphabet="ab/", max_size=4)
    filled = st.lists(pieces, min_size=pattern.count("*"), max_size=pattern.count("*")).map(
        lambda fills: _fill(pattern, fills)
    )
    return st.one_of(filled, st.text(alphabet="ab/*.\n", max_size=10).map(lambda s: "/" + s))


def _fill(pattern: str, fills: list[str]) -> str:
    out, it = [], iter(fills)
    for ch in pattern:
        out.append(next(it) if ch == "*" else ch)
    return "".join(out)


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, list[str]]:
    pattern = draw(patterns)
    return pattern, draw(st.lists(paths_near(pattern), min_size=1, max_size=6))


@pytest.mark.slow
@pytest.mark.django_db
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_python_and_the_database_match_alike_and_as_defined(case):
    pattern, paths = case
    if not Website.objects.exists():
        make_website()
    python = [path_matches(pattern, p) for p in paths]
    assert python == [reference(pattern, p) for p in paths], pattern_regex(pattern)
    assert in_database(pattern, paths) == python, pattern_regex(pattern)


HOSTILE_PATHS = [
    "/" + "a" * 2047,
    ("/" + "a/" * 1024)[:2048],
    ("/" + "aab/" * 512)[:2048],
]
# Worst cases of the translation for the patterns the services accept: a plain
# translation takes minutes on the first ones.
HOSTILE_PATTERNS = [
    "/**a**a**a**a**a**b",
    "/*a*a*a*a*a*a*a*a*b",
    "/**a*a*a*a*a*a*b",
    "/**a*" + "a" * 190 + "b",
    "/*a*" + "a" * 190 + "*b",
    "/**" + "a" * 60 + "**" + "a" * 60 + "**b",
    "/" + "*a" * 40 + "**a*b",
]


def test_hostile_patterns_are_ones_the_services_accept():
    for pattern in HOSTILE_PATTERNS:
        assert validate_page_pattern(pattern) == pattern


@pytest.mark.django_db
def test_long_hostile_paths_match_in_bounded_time():
    make_website()
    for pattern in HOSTILE_PATTERNS:
        for path in HOSTILE_PATHS:
            start = time.perf_counter()
            assert in_database(pattern, [path]) == [path_matches(pattern, path)]
            assert time.perf_counter() - start < 5, (pattern, path[:20])


def goal(**fields) -> Goal:
    return Goal(name="g", **fields)


def test_the_event_types_are_trackings():
    assert PAGEVIEW_TYPES == TRACKING_PAGEVIEW_TYPES
    assert EVENT_TYPE == EventType.EVENT


def test_page_goals_match_page_views_and_spa_navigations_only():
    blog = goal(kind=GoalKind.PAGE, page_pattern="/blog/*")
    assert blog.matches("PAGE_VIEW", "/blog/a", None, None)
    assert blog.matches("PATH_CHANGE", "/blog/a", None, None)
    assert not blog.matches("PAGE_EXIT", "/blog/a", None, None)
    assert not blog.matches("EVENT", "/blog/a", "Signup", None)
    assert not blog.matches("PAGE_VIEW", "/blog/a/b", None, None)


def test_event_goals_match_events_by_name_and_property():
    signup = goal(kind=GoalKind.EVENT, event_name="Signup")
    assert signup.matches("EVENT", "/", "Signup", None)
    assert signup.matches("EVENT", "/x", "Signup", {"plan": "pro"})
    assert not signup.matches("EVENT", "/", "signup", None)
    assert not signup.matches("PAGE_VIEW", "/Signup", None, None)

    pro = goal(kind=GoalKind.EVENT, event_name="Signup", prop_key="plan", prop_value="pro")
    assert pro.matches("EVENT", "/", "Signup", {"plan": "pro", "seats": "3"})
    assert not pro.matches("EVENT", "/", "Signup", {"plan": "free"})
    assert not pro.matches("EVENT", "/", "Signup", {})
    assert not pro.matches("EVENT", "/", "Signup", None)
    assert not pro.matches("EVENT", "/", "Login", {"plan": "pro"})

    empty = goal(kind=GoalKind.EVENT, event_name="Signup", prop_key="ref", prop_value="")
    assert empty.matches("EVENT", "/", "Signup", {"ref": ""})
    assert not empty.matches("EVENT", "/", "Signup", {})


@pytest.mark.django_db
def test_goals_match_stored_events_as_ingestion_stores_them():
    website = make_website()
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    url = "https://example.com"
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": f"{url}/blog/hello?utm_source=x", "at": at},
            {"type": "PATH_CHANGE", "url": f"{url}/blog/a/b", "at": at},
            {
                "type": "EVENT",
                "name": "  Signup ",
                "props": {"plan": "pro", "seats": 3, "trial": True},
                "url": f"{url}/pricing",
                "at": at,
            },
        ],
    )
    rows = list(Event.objects.filter(website=website).order_by("id"))
    blog = goal(kind=GoalKind.PAGE, page_pattern="/blog/*")
    seats = goal(kind=GoalKind.EVENT, event_name="Signup", prop_key="seats", prop_value="3")
    trial = goal(kind=GoalKind.EVENT, event_name="Signup", prop_key="trial", prop_value="true")
    assert [blog.matches(r.type, r.path, r.name, r.props) for r in rows] == [True, False, False]
    assert [seats.matches(r.type, r.path, r.name, r.props) for r in rows] == [False, False, True]
    assert [trial.matches(r.type, r.path, r.name, r.props) for r in rows] == [False, False, True]
    # The SQL form, on the events table itself.
    matched = Event.objects.filter(
        website=website, type__in=PAGEVIEW_TYPES, path__regex=pattern_regex("/blog/*")
    )
    assert list(matched.values_list("path", flat=True)) == ["/blog/hello"]
