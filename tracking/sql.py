"""The cursor the ingest writer's statements run on.

Django's PostgreSQL backend uses psycopg's client-side binding cursor: every parameter is
quoted into the SQL text in Python, element by element for an array. For the writer's
statements over arrays (``unnest``) that quoting was a fifth of a web worker's Python CPU
time under load (py-spy, ``bench/ingest.py --profile``). A plain psycopg cursor on the same
connection, inside the same transaction, binds them on the server instead. Errors are
raised as Django's (``OperationalError``, ...), as from Django's own cursors, since the
writer tells an unreachable database from a bad row by them. SQLite: Django's cursor.
"""

from __future__ import annotations

from collections.abc import Iterator
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
