"""Hostile query strings on every page and endpoint that reads one: the dashboard, its live
numbers and CSV export, and the stats API (stats, timeseries, every breakdown and unknown
ones).

Property-based (hypothesis): period, from, to, every filter, limit and unknown parameters,
repeated, empty, overlong, with NUL, lone surrogates and invalid UTF-8 escapes, are never
answered with a 5xx, write nothing, and the dashboard and the API agree on what is
invalid. Numbers and dates also come with non-ASCII and non-decimal digits (``²``, ``①``,
``٣``, full-width), which some of Python's parsers take and others refuse. Then both sides of every limit: filter length, custom range length, earliest and
latest dates, the API's limit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from simple_analytics.tests.fuzz import FUZZ, HOSTILE_DIGITS, hostile_dates, text
from simple_analytics.tests.test_authorization import snapshot
from stats.dimensions import PUBLIC_BREAKDOWNS
from stats.filters import MAX_FILTER_CHARS
from stats.filters import NAMES as FILTER_NAMES
from stats.periods import EARLIEST, MAX_CUSTOM_DAYS, PERIODS

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FILTERS = list(FILTER_NAMES)
TODAY = dt.datetime.now(dt.UTC).date()  # the fixture website's time zone is UTC
LATEST = dt.date(2100, 1, 1)


def dates() -> st.SearchStrategy[str]:
    days = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2110, 1, 1))
    return st.one_of(
        days.map(dt.date.isoformat),
        st.sampled_from(
            [
                TODAY.isoformat(),
                (TODAY - dt.timedelta(days=1)).isoformat(),
                EARLIEST.isoformat(),
                (EARLIEST - dt.timedelta(days=1)).isoformat(),
                LATEST.isoformat(),
                (LATEST + dt.timedelta(days=1)).isoformat(),
                "2026-02-30",
                "2026-1-5",
                "20260105",
                "2026-01-05T00:00",
                "9999-12-31",
                "0001-01-01",
                "",
                *hostile_dates(TODAY.isoformat()),
            ]
        ),
        text(12),
    )


VALUES: dict[str, st.SearchStrategy[str]] = {
    "period": st.one_of(st.sampled_from([*PERIODS, "", "CUSTOM", "30D", "7d "]), text(10)),
    "from": dates(),
    "to": dates(),
    "limit": st.one_of(
        st.integers(-5, 1005).map(str),
        st.sampled_from(["", "1e3", "9" * 30, "9" * 5000, "1.5", "+5", " 5", *HOSTILE_DIGITS]),
        text(6),
    ),
    **{
        name: st.one_of(
            st.sampled_from(
                [
                    "",
                    "(none)",
                    "/",
                    "Chrome",
                    "desktop",
                    "news",
                    "x" * MAX_FILTER_CHARS,
                    "x" * (MAX_FILTER_CHARS + 1),
                ]
            ),
            text(30),
        )
        for name in FILTERS
    },
    "unknown": text(10),
}


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(list(VALUES)), max_size=6))  # repeats allowed
    pairs = [(name, draw(VALUES[name])) for name in names]
    query = urlencode(pairs, quote_via=quote, errors="surrogatepass")
    # Sometimes what no encoder writes: raw escapes of NUL and invalid UTF-8, stray
    # separators, a lone '%'.
    raw = draw(
        st.sampled_from(
            [
                "",
                "",
                "",
                "&%ff=%00",
                "&page=%ED%A0%80",
                "&&=&",
                "&period",
                "&%",
                "&browser=%C0%80",
                "&period=%00",
            ]
        )
    )
    return query + raw


def owner_client(world: Any) -> Client:
    client = Client()
    client.force_login(world.owner)
    return client


def api(world: Any, path: str, query: str) -> Any:
    return Client().get(
        f"{path}?site={world.website.tracking_id}&{query}",
        HTTP_AUTHORIZATION=f"Bearer {world.owner_plain_key}",
    )


# --- properties ----------------------------------------------------------------------


@FUZZ
@given(query=query_strings())
def test_the_dashboard_and_the_api_answer_any_query_alike(world, query):
    before = snapshot()
    client = owner_client(world)
    page = client.get(f"/websites/{world.website.pk}/?{query}")
    assert page.status_code in (200, 400), (query, page.status_code)
    export = client.get(f"/websites/{world.website.pk}/export.csv?{query}")
    assert export.status_code == page.status_code, (query, export.status_code)
    answer = api(world, "/api/v1/stats", query)
    assert answer.status_code in (200, 400), (query, answer.status_code)
    if answer.status_code == 400:
        assert answer.json()["error"], query
    else:
        assert set(answer.json()) >= {"pageviews", "visitors", "sessions", "pages"}
    # The same rules: what one refuses the other refuses (the dashboard has no limit).
    if "limit" not in query:
        assert (page.status_code == 400) == (answer.status_code == 400), (
            query,
            page.status_code,
            answer.content[:200],
        )
    assert snapshot() == before, query


@FUZZ
@given(
    query=query_strings(),
    endpoint=st.sampled_from(
        ["/api/v1/timeseries", *(f"/api/v1/breakdown/{d}" for d in PUBLIC_BREAKDOWNS)]
    ),
)
def test_every_api_endpoint_answers_any_query_with_json(world, query, endpoint):
    before = snapshot()
    response = api(world, endpoint, query)
    assert response.status_code in (200, 400), (endpoint, query, response.status_code)
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] if response.status_code == 400 else body["site"], (endpoint, query)
    assert snapshot() == before


@FUZZ
@given(dimension=text(20), query=query_strings())
def test_unknown_breakdowns_are_a_404(world, dimension, query):
    path = "/api/v1/breakdown/" + quote(dimension, safe="", errors="surrogatepass")
    response = api(world, path, query)
    if dimension in PUBLIC_BREAKDOWNS:
        assert response.status_code in (200, 400)
    else:
        assert response.status_code == 404, (dimension, response.status_code)
        if response["Content-Type"] == "application/json":  # ours, not the resolver's
            assert "unknown breakdown" in response.json()["error"]


@FUZZ
@given(query=query_strings())
def test_live_numbers_ignore_the_query(world, query):
    response = owner_client(world).get(f"/websites/{world.website.pk}/live.json?{query}")
    assert response.status_code == 200
    assert set(response.json()) == {"current_visitors", "has_data"}


# --- limits, both sides --------------------------------------------------------------


def custom(first: dt.date, last: dt.date, **extra: str) -> str:
    return urlencode(
        {"period": "custom", "from": first.isoformat(), "to": last.isoformat(), **extra}
    )


def limit_cases() -> list[tuple[str, str, int]]:
    """(what, query, expected status) for the dashboard, the export and the API alike."""
    span = dt.timedelta(days=MAX_CUSTOM_DAYS - 1)
    day = dt.timedelta(days=1)
    cases = [
        ("longest custom range", custom(TODAY - span, TODAY), 200),
        ("one day longer", custom(TODAY - span - day, TODAY), 400),
        ("earliest day", custom(EARLIEST, EARLIEST + day), 200),
        ("the day before", custom(EARLIEST - day, EARLIEST + day), 400),
        ("latest day", custom(LATEST - day, LATEST), 200),
        ("the day after", custom(LATEST - day, LATEST + day), 400),
        ("a single day", custom(TODAY, TODAY), 200),
        ("to before from", custom(TODAY, TODAY - day), 400),
    ]
    for name in FILTERS:
        cases += [
            (f"{name} at the length limit", urlencode({name: "x" * MAX_FILTER_CHARS}), 200),
            (f"{name} one over", urlencode({name: "x" * (MAX_FILTER_CHARS + 1)}), 400),
            (f"{name} with a NUL", urlencode({name: "a\x00b"}), 400),
            (f"{name} with an encoded lone surrogate", f"{name}=%ED%A0%80", 200),
        ]
    return cases


def test_both_sides_of_every_query_limit(world):
    client = owner_client(world)
    for what, query, expected in limit_cases():
        page = client.get(f"/websites/{world.website.pk}/?{query}")
        assert page.status_code == expected, f"dashboard, {what}: {page.status_code}"
        export = client.get(f"/websites/{world.website.pk}/export.csv?{query}")
        assert export.status_code == expected, f"export, {what}: {export.status_code}"
        answer = api(world, "/api/v1/stats", query)
        assert answer.status_code == expected, f"API, {what}: {answer.status_code}"


@pytest.mark.parametrize(
    "limit, expected",
    [
        ("1", 200),
        ("1000", 200),
        ("0001", 200),
        ("0", 400),
        ("1001", 400),
        ("", 400),
        ("9" * 5000, 400),
        *((digits, 400) for digits in HOSTILE_DIGITS),
    ],
)
def test_both_sides_of_the_api_limit(world, limit, expected):
    for endpoint in ("/api/v1/stats", "/api/v1/breakdown/pages"):
        response = api(world, endpoint, f"limit={quote(limit)}")
        assert response.status_code == expected, (endpoint, limit, response.content)
        assert response["Content-Type"] == "application/json"
    if expected == 200:
        rows = api(world, "/api/v1/breakdown/pages", f"limit={limit}").json()["results"]
        assert len(rows) <= int(limit)


def test_a_very_long_query_string_is_refused_politely(world):
    query = "browser=" + "%ff" * 20_000
    assert owner_client(world).get(f"/websites/{world.website.pk}/?{query}").status_code == 400
    assert api(world, "/api/v1/stats", query).status_code == 400
