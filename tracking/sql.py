"""PostgreSQL's side of the ingest writer's statements: the cursor they run on, how they
are executed, and their array parameters.

Django's PostgreSQL backend uses psycopg's client-side binding cursor: every parameter is
quoted into the SQL text in Python, element by element for an array, which is costly for
the writer's statements over arrays (``unnest``). A plain psycopg cursor on the same
connection, inside the same transaction, binds them on the server instead, and prepares
the ones whose plan cannot go stale (see ``execute``): PostgreSQL parses and plans them
once per connection, not once per batch. Errors are raised as Django's
(``OperationalError``, ...), as from Django's own cursors, since the writer tells an
unreachable database from a bad row by them.

The array parameters are sent as PostgreSQL array literals built here (``ints``,
``texts``, ``timestamps``, ``bools``) instead of Python lists: psycopg adapts a list in
Python, element by element, while these are one ``join`` per column. Figures:
docs/PERFORMANCE.md. SQLite's forms of the statements need none of this
(``tracking.statements``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection


@contextmanager
def cursor() -> Iterator[Any]:
    """A psycopg cursor on Django's PostgreSQL connection, in its current transaction."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as pg_cursor:
        yield pg_cursor


def execute(
    cur: Any, statement: str, params: list[Any], *, prepare: bool = True, binary: bool = False
) -> None:
    """Run one of the writer's fixed statements on ``cursor()``, prepared unless
    ``prepare`` is False; ``binary``: results in PostgreSQL's binary format (psycopg's C
    loaders).

    Prepare only a statement whose plan cannot depend on the table's size: PostgreSQL
    may switch a prepared statement to a generic plan after five runs, and keeps it. A
    lookup planned while the table was nearly empty (a new database) is a sequential scan,
    and stays one as the table grows (docs/PERFORMANCE.md). Those statements are planned
    on every run instead (``prepare=False``;
    ``test_prepared_writer_statements_never_scan_a_table``). Nothing is prepared when
    ``DATABASE_PREPARED_STATEMENTS`` is off (a transaction-mode pooler)."""
    prepare = prepare and settings.DATABASE_PREPARED_STATEMENTS
    cur.execute(statement, params, prepare=prepare, binary=binary)


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


ENCODERS: dict[str, Callable[[Iterable[Any]], str]] = {
    "i": ints,
    "t": texts,
    "d": timestamps,
    "b": bools,
}


# Column types, as cast in the statements; their kinds feed ``columns``.
KIND = {
    "bigint": "i",
    "integer": "i",
    "smallint": "i",
    "text": "t",
    "jsonb": "t",  # JSON text, parsed by the cast
    "timestamptz": "d",
    "boolean": "b",
}


def arrays(types: Iterable[str]) -> str:
    """``%s::type[]`` per column: the array parameters of an ``unnest``."""
    return ", ".join(f"%s::{t}[]" for t in types)


def kinds(types: Iterable[str]) -> str:
    """The columns' kinds for ``columns`` (the same types as the statement's casts)."""
    return "".join(KIND[t] for t in types)


def columns(rows: list[tuple[Any, ...]], kinds: str) -> list[str]:
    """One array literal per column of ``rows``; ``kinds`` names each column's type:
    ``i`` integer, ``t`` text, ``d`` timestamptz, ``b`` boolean."""
    cols = list(zip(*rows, strict=True))
    if len(cols) != len(kinds):
        raise ValueError(f"{len(cols)} columns, {len(kinds)} kinds")
    return [ENCODERS[kind](col) for kind, col in zip(kinds, cols, strict=True)]
