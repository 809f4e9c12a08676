"""The cursor the ingest writer's statements run on, and their array parameters.

Django's PostgreSQL backend uses psycopg's client-side binding cursor: every parameter is
quoted into the SQL text in Python, element by element for an array. For the writer's
statements over arrays (``unnest``) that quoting was a fifth of a web worker's Python CPU
time under load (py-spy, ``bench/ingest.py --profile``). A plain psycopg cursor on the same
connection, inside the same transaction, binds them on the server instead, and prepares
the ones whose plan cannot go stale (see ``execute``): PostgreSQL parses and plans them
once per connection, not once per batch.
Errors are raised as Django's (``OperationalError``, ...), as from Django's own cursors,
since the writer tells an unreachable database from a bad row by them. SQLite: Django's
cursor.

The array parameters are sent as PostgreSQL array literals built here (``ints``,
``texts``, ``timestamps``, ``bools``) instead of Python lists: psycopg adapts a list in
Python, element by element (its ``ListDumper`` was 17% of a worker's Python time), while
these are one ``join`` per column. Measured with 7-row batches (the live batch size):
a statement's client CPU 263 -> 96 µs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection


@contextmanager
def cursor() -> Iterator[Any]:
    if connection.vendor != "postgresql":
        with connection.cursor() as django_cursor:
            yield django_cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as pg_cursor:
        yield pg_cursor


def execute(cur: Any, statement: str, params: list[Any], *, prepare: bool = True,
            binary: bool = False) -> None:  # fmt: skip
    """Run one of the writer's fixed statements, prepared on PostgreSQL unless ``prepare``
    is False; ``binary``: results in PostgreSQL's binary format (psycopg's C loaders).

    Prepare only a statement whose plan cannot depend on the table's size: PostgreSQL
    may switch a prepared statement to a generic plan after five runs, and keeps it. A
    lookup planned while the table was nearly empty (a new database) is a sequential scan,
    and stayed one as the table grew: measured, the session lookup read 46 million rows
    for 70,000 events. Those statements are planned on every run instead
    (``prepare=False``; ``test_prepared_writer_statements_never_scan_a_table``)."""
    if connection.vendor == "postgresql":
        cur.execute(statement, params, prepare=prepare, binary=binary)
    else:
        cur.execute(statement, params)


# Array literals (https://www.postgresql.org/docs/current/arrays.html#ARRAYS-IO): elements
# separated by commas; NULL unquoted; a quoted element may hold anything, with `"` and `\`
# escaped by a backslash. Cast in the statement (``%s::bigint[]``).


def ints(values: Iterable[int | None]) -> str:
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


def texts(values: Iterable[str | None]) -> str:
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in values) + "}"


def timestamps(values: Iterable[dt.datetime | None]) -> str:
    """Aware datetimes (ISO 8601 with their UTC offset: exact to the microsecond)."""
    return "{" + ",".join("NULL" if v is None else _aware(v) for v in values) + "}"


def bools(values: Iterable[bool | None]) -> str:
    return "{" + ",".join("NULL" if v is None else ("t" if v else "f") for v in values) + "}"


def _quoted(value: str) -> str:
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + value + '"'


def _aware(value: dt.datetime) -> str:
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime in a timestamptz array: {value!r}")
    return '"' + value.isoformat() + '"'


ENCODERS = {"i": ints, "t": texts, "d": timestamps, "b": bools}


def columns(rows: list[tuple[Any, ...]], kinds: str) -> list[str]:
    """One array literal per column of ``rows``; ``kinds`` names each column's type:
    ``i`` integer, ``t`` text, ``d`` timestamptz, ``b`` boolean."""
    cols = list(zip(*rows, strict=True))
    if len(cols) != len(kinds):
        raise ValueError(f"{len(cols)} columns, {len(kinds)} kinds")
    return [ENCODERS[kind](col) for kind, col in zip(kinds, cols, strict=True)]
