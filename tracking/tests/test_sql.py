"""The writer's array parameters: PostgreSQL array literals built in tracking/sql.py must
read back as exactly the values written, whatever a path or a referrer holds."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from simple_analytics.testing import make_website, record_events
from tracking import sql
from tracking.models import Event, Session

SECOND = dt.timedelta(seconds=1)

TEXTS = [
    "/plain",
    "",
    "NULL",
    "null",
    'quo"te',
    "back\\slash",
    '\\"',
    "comma,brace{}",
    " leading and trailing ",
    "new\nline\ttab",
    "ünïcødé ✓ 𝄞",
    "'single'",
    None,
]
INTS = [0, -1, 1, 2**63 - 1, -(2**63), None, 42]
TIMES = [
    dt.datetime(2026, 12, 4, 13, 37, 11, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    None,
    dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
]
BOOLS = [True, False, None]


def read_back(literal: str, pg_type: str) -> list:
    with sql.cursor() as cur:
        cur.execute(
            f"SELECT x FROM unnest(%s::{pg_type}[]) WITH ORDINALITY AS u(x, n) ORDER BY n",
            [literal],
        )
        return [row[0] for row in cur.fetchall()]


@pytest.mark.postgres
@pytest.mark.django_db
def test_array_literals_read_back_exactly_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("array literals are PostgreSQL's")
    assert read_back(sql.texts(TEXTS), "text") == TEXTS
    assert read_back(sql.ints(INTS), "bigint") == INTS
    assert read_back(sql.timestamps(TIMES), "timestamptz") == TIMES  # the same instants
    assert read_back(sql.bools(BOOLS), "boolean") == BOOLS


@pytest.mark.postgres
@pytest.mark.django_db
def test_columns_turn_rows_into_one_literal_per_column_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("array literals are PostgreSQL's")
    rows = [(1, 'a"b', TIMES[0], True), (None, None, None, None), (-5, "", TIMES[1], False)]
    literals = sql.columns(rows, "itdb")
    for literal, pg_type, i in zip(
        literals, ("bigint", "text", "timestamptz", "boolean"), range(4), strict=True
    ):
        assert read_back(literal, pg_type) == [row[i] for row in rows]


def test_a_naive_datetime_is_refused_rather_than_read_in_the_servers_zone():
    with pytest.raises(ValueError, match="naive"):
        sql.timestamps([dt.datetime(2026, 12, 4, 12, 0)])


def test_columns_refuse_kinds_that_do_not_match_the_rows():
    with pytest.raises(ValueError, match="3 columns, 2 kinds"):
        sql.columns([(1, "a", True)], "it")


@pytest.mark.postgres
@pytest.mark.django_db
def test_prepared_writer_statements_never_scan_a_table():
    """A prepared statement may run a generic plan made while its tables were nearly
    empty, for good: any statement the writer leaves prepared must use an index (or no
    table) whatever the table's size. Planned here against the test's nearly empty
    tables, the trap's conditions."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    website = make_website()
    at = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    # Every statement of the writer: new sessions, continued sessions, exits, a retried
    # event id.
    events = []
    for i in range(8):
        t = at + dt.timedelta(minutes=i)
        ip = f"198.51.100.{i}"
        events += [
            {"type": "PAGE_VIEW", "url": "https://example.com/a", "at": t, "ip": ip},
            {"type": "PATH_CHANGE", "url": "https://example.com/b", "at": t + SECOND, "ip": ip},
            {
                "type": "PAGE_EXIT",
                "url": "https://example.com/b",
                "engaged_ms": 900,
                "at": t + 2 * SECOND,
                "ip": ip,
                "id": f"evt-{i:04d}-retried-twice",
            },
            {
                "type": "PAGE_EXIT",
                "url": "https://example.com/b",
                "engaged_ms": 900,
                "at": t + 3 * SECOND,
                "ip": ip,
                "id": f"evt-{i:04d}-retried-twice",
            },
        ]
    record_events(website, events)
    with connection.cursor() as cur:
        cur.execute("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'sa_%%'")
        prepared = dict(cur.fetchall())
    # The lock and both inserts are prepared, so checked here; the id check and the
    # session lookup and update are planned on every run.
    assert sorted(prepared) == ["sa_insert_events", "sa_insert_sessions", "sa_lock_visitors"]
    with connection.cursor() as cur:
        cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        for name, statement in prepared.items():
            cur.execute(
                "SELECT cardinality(parameter_types) FROM pg_prepared_statements WHERE name = %s",
                [name],
            )
            nulls = ", ".join(["NULL"] * cur.fetchone()[0])
            cur.execute(f"EXPLAIN EXECUTE {name}({nulls})")
            plan = "\n".join(row[0] for row in cur.fetchall())
            assert "Seq Scan" not in plan, f"{statement}\n{plan}"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_batch_finding_its_prepared_statements_gone_is_written_all_the_same():
    """psycopg sends ``DEALLOCATE ALL`` after a rollback when it prepared statements of its
    own on the connection, which drops the writer's too: the batch is retried, prepared
    again, and stored once."""
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    website = make_website()
    at = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    first = {"type": "PAGE_VIEW", "url": "https://example.com/a", "at": at, "ip": "198.51.100.9"}
    assert record_events(website, [first]).stored == 1
    with connection.cursor() as cur:
        cur.execute("DEALLOCATE ALL")
    second = {**first, "url": "https://example.com/b", "at": at + SECOND}
    assert record_events(website, [second]).stored == 1
    assert sorted(Event.objects.values_list("path", flat=True)) == ["/a", "/b"]
    assert Session.objects.get().pageviews == 2
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'sa_%%'")
        assert cur.fetchone()[0] == 3
