"""The ingest writer's SQL: a batch's reads and writes in PostgreSQL's and in SQLite's form,
and the one choice between the two (``for_connection``).

A batch is one transaction in two steps: ``read`` locks the batch's visitors and loads what
the session rules need, ``write`` stores what they decided and commits. On PostgreSQL each
step is one round trip: its statements go as one string over the simple query protocol,
their parameters as literals quoted by libpq, and the transaction is this module's own
(``BEGIN`` in the first string, ``COMMIT`` in the last). A batch used to wait for the
server seven times, and each wait hands the GIL to the event loop and waits to get it back
(docs/PERFORMANCE.md). Nothing is prepared, so a transaction-mode pooler needs no setting.

Plain statements, not the ORM's ``bulk_create``/``bulk_update`` (a model instance per row,
a CASE expression per field and row: too slow for every batch). On PostgreSQL each write is
one statement over arrays (``unnest``): its size does not grow with the batch's number of
statements. SQLite runs row-wise forms (in process, no round trips to save). Rows are built
here, next to the column lists they must match.
"""

from __future__ import annotations

import datetime as dt
import json
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from psycopg.pq import Escaping, TransactionStatus
from psycopg.types.datetime import TimestamptzLoader

from tracking import sql
from tracking.models import DropCount, Event, EventType, Session
from tracking.pipeline import IncomingEvent
from tracking.sessions import LOADED, OpenSession

DropKey = tuple[int, dt.date, str]  # (website id, UTC day, reason): one drop counter
Row = tuple[Any, ...]

_S = Session._meta.db_table
_E = Event._meta.db_table
_D = DropCount._meta.db_table


@dataclass(slots=True)
class Found:
    """What ``read`` found: the batch's dedup keys already stored and the visitors'
    sessions (``LOADED``)."""

    stored_keys: set[int] = field(default_factory=set)
    sessions: Sequence[Sequence[Any]] = ()


class Batch(Protocol):
    def read(
        self,
        *,
        lock: list[int],
        keys: set[int],
        visitors: set[int],
        since: dt.datetime,
        starts: int,
    ) -> Found:
        """Hold ``lock``'s visitor locks until the end of the transaction (two processes
        writing one visitor at once could otherwise both start a session; taken in sorted
        order, so two batches never deadlock), then load which of ``keys`` are stored and
        the sessions of ``visitors`` seen since ``since``. ``starts``: how many sessions
        the batch may start at most (PostgreSQL takes their ids from the sequence now, so
        that ``write`` needs no round trip to learn them)."""
        ...

    def write(
        self,
        new: list[OpenSession],
        changed: list[OpenSession],
        stored: list[tuple[IncomingEvent, OpenSession]],
        drops: Counter[DropKey],
    ) -> None:
        """Insert the ``new`` sessions (setting each one's ``pk``), update the ``changed`` ones,
        insert the ``stored`` events and add the ``drops`` to their counters."""
        ...


@dataclass(frozen=True, slots=True)
class Statements:
    """The writer's statements for one database: ``batch()`` opens a transaction for one
    batch, committed when the block ends without an error, rolled back otherwise."""

    batch: Callable[[], AbstractContextManager[Batch]]


# --- The rows: sessions started, sessions continued, events, drop counts.

_NEW_SESSION_COLUMNS = (
    ("website_id", "bigint"),
    ("visitor_id", "bigint"),
    ("started_at", "timestamptz"),
    ("last_seen_at", "timestamptz"),
    ("duration_s", "integer"),
    ("entry_path", "text"),
    ("exit_path", "text"),
    ("pageviews", "integer"),
    ("is_bounce", "boolean"),
    ("has_exit", "boolean"),
    ("browser", "text"),
    ("os", "text"),
    ("device", "text"),
    ("source", "text"),
    ("referrer_host", "text"),
    ("utm_source", "text"),
    ("utm_medium", "text"),
    ("utm_campaign", "text"),
    ("utm_content", "text"),
    ("utm_term", "text"),
    ("channel", "text"),
    ("screen", "integer"),
    ("screen_size", "text"),
    ("country", "text"),
    ("region", "text"),
    ("city", "text"),
    ("language", "text"),
    ("minute_started_at", "timestamptz"),
    ("minute_pageviews", "integer"),
    ("engaged_ms", "bigint"),
    ("view_scroll", "smallint"),
)
_NEW_SESSION_NAMES = ", ".join(name for name, _ in _NEW_SESSION_COLUMNS)
_NEW_SESSION_TYPES = tuple(kind for _, kind in _NEW_SESSION_COLUMNS)
_NEW_SESSION_KINDS = sql.kinds(_NEW_SESSION_TYPES)


def _new_session_rows(sessions: list[OpenSession]) -> list[Row]:
    rows: list[Row] = []
    for s in sessions:
        ev = s.first
        assert ev is not None, "a new session keeps the event that started it"
        rows.append(
            (
                s.website_id,
                s.visitor_id,
                s.started_at,
                s.last_seen_at,
                s.duration_s,
                ev.path,
                s.exit_path,
                s.pageviews,
                s.is_bounce,
                s.has_exit,
                ev.browser,
                ev.os,
                ev.device,
                ev.source,
                ev.referrer_host,
                ev.utm_source,
                ev.utm_medium,
                ev.utm_campaign,
                ev.utm_content,
                ev.utm_term,
                ev.channel,
                ev.screen,
                ev.screen_size,
                ev.country,
                ev.region,
                ev.city,
                ev.language,
                s.minute_started_at,
                s.minute_pageviews,
                s.engaged_ms,
                s.view_scroll,
            )
        )
    return rows


_UPDATE_TYPES = (
    "timestamptz",
    "integer",
    "integer",
    "text",
    "boolean",
    "boolean",
    "timestamptz",
    "integer",
    "bigint",
    "smallint",
    "bigint",
)
_UPDATE_KINDS = sql.kinds(_UPDATE_TYPES)


def _update_rows(sessions: list[OpenSession]) -> list[Row]:
    return [
        (
            s.last_seen_at,
            s.duration_s,
            s.pageviews,
            s.exit_path,
            s.is_bounce,
            s.has_exit,
            s.minute_started_at,
            s.minute_pageviews,
            s.engaged_ms,
            s.view_scroll,
            s.pk,
        )
        for s in sessions
    ]


_EVENT_COLUMNS = (
    ("website_id", "bigint"),
    ("session_id", "bigint"),
    ("type", "text"),
    ("path", "text"),
    ("created_at", "timestamptz"),
    ("engaged_ms", "integer"),
    ("dedup_key", "bigint"),
    ("name", "text"),
    ("props", "jsonb"),
    ("scroll_pct", "smallint"),
    ("engaged_view", "boolean"),
    ("engaged_path", "text"),
)
_EVENT_NAMES = ", ".join(name for name, _ in _EVENT_COLUMNS)
_EVENT_TYPES = tuple(kind for _, kind in _EVENT_COLUMNS)
_EVENT_KINDS = sql.kinds(_EVENT_TYPES)


def _props_json(props: dict[str, str] | None) -> str | None:
    """The props as JSON text, as both databases take it for a JSON column (compact: it is
    SQLite's stored form; PostgreSQL's jsonb parses it)."""
    if not props:
        return None
    return json.dumps(props, ensure_ascii=False, separators=(",", ":"))


def _event_rows(stored: list[tuple[IncomingEvent, OpenSession]]) -> list[Row]:
    rows: list[Row] = []
    for ev, session in stored:
        custom = ev.type == EventType.EVENT
        reported = ev.engaged_view is not None
        rows.append(
            (
                ev.website_id,
                session.pk,
                ev.type,
                ev.path,
                ev.at,
                ev.engaged_ms if reported else None,
                ev.dedup_key,
                ev.name if custom else None,
                _props_json(ev.props) if custom else None,
                ev.scroll_add if reported else None,
                ev.engaged_view,
                ev.engaged_path if reported else None,
            )
        )
    return rows


def _drop_rows(drops: Counter[DropKey]) -> list[Row]:
    # Sorted: concurrent writers then lock the counter rows in the same order.
    return sorted((site, day, str(reason), n) for (site, day, reason), n in drops.items())


# --- PostgreSQL: two round trips a batch.

_LOCK_VISITORS_PG = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k"
# The dedup keys' unique index, probed once per key.
_STORED_KEYS_PG = f"SELECT dedup_key FROM {_E} WHERE dedup_key = ANY(%s::bigint[])"
_LATEST_SESSIONS_PG = (
    f"SELECT {', '.join(LOADED)} FROM {_S} "
    "WHERE visitor_id = ANY(%s::bigint[]) AND last_seen_at >= %s::timestamptz"
)
_SESSION_SEQUENCE_PG = f"SELECT pg_get_serial_sequence('{_S}', 'id')"
_SESSION_IDS_PG = "SELECT nextval(%s::regclass) FROM generate_series(1, %s)"
# The sessions' id sequence, looked up once per process: looked up per row it cost
# PostgreSQL ~20 µs an event (a catalog scan).
_session_sequence = ""
_INSERT_SESSIONS_PG = (
    f"INSERT INTO {_S} (id, {_NEW_SESSION_NAMES}) SELECT * FROM unnest(%s::bigint[], "
    + sql.arrays(_NEW_SESSION_TYPES)
    + ")"
)
# ``is_bounce`` is ANDed with the stored flag: a session that stopped being a bounce (a
# second page view, a custom event) never becomes one again, whatever writes it.
_UPDATE_SESSIONS_PG = (
    f"UPDATE {_S} AS s SET last_seen_at = v.last_seen_at, duration_s = v.duration_s, "
    "pageviews = v.pageviews, exit_path = v.exit_path, is_bounce = s.is_bounce AND v.is_bounce, "
    "has_exit = v.has_exit, minute_started_at = v.minute_started_at, "
    "minute_pageviews = v.minute_pageviews, engaged_ms = v.engaged_ms, "
    "view_scroll = v.view_scroll "
    f"FROM unnest({sql.arrays(_UPDATE_TYPES)}) "
    "AS v(last_seen_at, duration_s, pageviews, exit_path, is_bounce, has_exit, "
    "minute_started_at, minute_pageviews, engaged_ms, view_scroll, id) WHERE s.id = v.id"
)
_INSERT_EVENTS_PG = (
    f"INSERT INTO {_E} ({_EVENT_NAMES}) SELECT * FROM unnest({sql.arrays(_EVENT_TYPES)})"
)
_COUNT_DROPS_PG = (
    f"INSERT INTO {_D} (website_id, day, reason, count) VALUES %s "
    f"ON CONFLICT (website_id, day, reason) DO UPDATE SET count = {_D}.count + excluded.count"
)
_SAVEPOINT = "sa_ingest_batch"


class PreparedStatementsLost(DatabaseError):
    """The connection's prepared statements were dropped (psycopg sends ``DEALLOCATE ALL``
    after a rollback when it had prepared statements of its own): rolled back, and the
    next batch on this connection prepares them again."""


# Prepared with SQL's PREPARE once per connection (unless ``DATABASE_PREPARED_STATEMENTS``
# is off): none reads a table, so no plan can go stale as the tables grow (sql.execute).
_PREPARED = {
    "sa_lock_visitors": _LOCK_VISITORS_PG,
    "sa_insert_sessions": _INSERT_SESSIONS_PG,
    "sa_insert_events": _INSERT_EVENTS_PG,
}
_NAMES = {statement: name for name, statement in _PREPARED.items()}
_prepared_on: weakref.WeakSet[psycopg.Connection[Any]] = weakref.WeakSet()


def _prepare(cur: psycopg.Cursor[Any]) -> None:
    parts = []
    for name, statement in _PREPARED.items():
        body = statement % tuple(f"${n}" for n in range(1, statement.count("%s") + 1))
        parts.append(f"PREPARE {name} AS {body}")
    cur.execute(";\n".join(parts).encode())


class _PgBatch:
    """One batch on Django's PostgreSQL connection. Statements are joined into one string
    per step; ``begin`` opens the transaction (or, inside a caller's transaction, a
    savepoint) in the first string sent, ``end`` closes it in the last."""

    def __init__(self, cur: psycopg.Cursor[Any], begin: str, end: str, *, prepared: bool) -> None:
        self.cur = cur
        self.prepared = prepared
        self.escape = Escaping(cur.connection.pgconn).escape_literal
        self.begin = begin
        self.end = end
        self.ended = False
        self.session_ids: list[int] = []

    def literal(self, value: str) -> str:
        return self.escape(value.encode()).decode()

    def fill(self, statement: str, params: Sequence[str]) -> str:
        literals = tuple(self.literal(p) for p in params)
        if self.prepared and statement in _NAMES:
            return f"EXECUTE {_NAMES[statement]}({', '.join(literals)})"
        return statement % literals

    def send(self, statements: list[str]) -> None:
        """Run ``statements`` in one round trip; the cursor is left on the first one's result."""
        begin, self.begin = self.begin, ""
        self.cur.execute(";\n".join([begin, *statements] if begin else statements).encode())
        if begin:
            self.cur.nextset()  # past BEGIN's (or SAVEPOINT's) result

    def sequence(self) -> str:
        global _session_sequence
        if not _session_sequence:
            self.cur.execute(_SESSION_SEQUENCE_PG.encode())
            (_session_sequence,) = self.cur.fetchone() or ("",)
        return _session_sequence

    def read(
        self,
        *,
        lock: list[int],
        keys: set[int],
        visitors: set[int],
        since: dt.datetime,
        starts: int,
    ) -> Found:
        statements = [self.fill(_LOCK_VISITORS_PG, [sql.ints(sorted(set(lock)))])]
        if keys:
            statements.append(self.fill(_STORED_KEYS_PG, [sql.ints(keys)]))
        statements.append(self.fill(_LATEST_SESSIONS_PG, [sql.ints(visitors), since.isoformat()]))
        if starts:
            statements.append(_SESSION_IDS_PG % (self.literal(self.sequence()), int(starts)))
        self.send(statements)
        cur = self.cur
        cur.nextset()  # past the lock's count
        found = Found()
        if keys:
            found.stored_keys = {key for (key,) in cur.fetchall()}
            cur.nextset()
        found.sessions = cur.fetchall()
        if starts:
            cur.nextset()
            self.session_ids = [pk for (pk,) in cur.fetchall()]
        return found

    def write(
        self,
        new: list[OpenSession],
        changed: list[OpenSession],
        stored: list[tuple[IncomingEvent, OpenSession]],
        drops: Counter[DropKey],
    ) -> None:
        statements: list[str] = []
        if new:
            for session, pk in zip(new, self.session_ids, strict=False):
                session.pk = pk
            ids = sql.ints(s.pk for s in new)
            columns = sql.columns(_new_session_rows(new), _NEW_SESSION_KINDS)
            statements.append(self.fill(_INSERT_SESSIONS_PG, [ids, *columns]))
        if changed:
            columns = sql.columns(_update_rows(changed), _UPDATE_KINDS)
            statements.append(self.fill(_UPDATE_SESSIONS_PG, columns))
        if stored:
            columns = sql.columns(_event_rows(stored), _EVENT_KINDS)
            statements.append(self.fill(_INSERT_EVENTS_PG, columns))
        if drops:
            values = ", ".join(
                f"({site:d}, '{day.isoformat()}'::date, {self.literal(reason)}, {n:d})"
                for site, day, reason, n in _drop_rows(drops)
            )
            statements.append(_COUNT_DROPS_PG % values)
        self.close(statements)

    def close(self, statements: list[str]) -> None:
        if self.begin and not statements:
            return  # nothing was sent and nothing is to be written
        self.ended = True
        self.send([*statements, self.end])


@contextmanager
def _batch_pg() -> Iterator[_PgBatch]:
    connection.ensure_connection()
    pg = connection.connection
    if pg.autocommit:
        begin, end, undo = "BEGIN", "COMMIT", "ROLLBACK"
    else:  # inside the caller's transaction (Django's ``atomic``, a test's)
        begin, end = f"SAVEPOINT {_SAVEPOINT}", f"RELEASE SAVEPOINT {_SAVEPOINT}"
        undo = f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}; {end}"
    with connection.wrap_database_errors, psycopg.Cursor(pg) as cur:
        # The text format's C loader, not the Python one Django registers.
        cur.adapters.register_loader("timestamptz", TimestamptzLoader)
        prepared = settings.DATABASE_PREPARED_STATEMENTS
        if prepared and pg not in _prepared_on:
            _prepare(cur)
            _prepared_on.add(pg)
        batch = _PgBatch(cur, begin, end, prepared=prepared)
        try:
            yield batch
            if not batch.ended:
                batch.close([])
        except BaseException as exc:
            sent = not batch.begin
            if sent and pg.info.transaction_status in _OPEN and not pg.closed:
                try:
                    cur.execute(undo.encode())
                except psycopg.Error:
                    pass  # the connection broke: the server rolls back on its own
            if isinstance(exc, psycopg.errors.InvalidSqlStatementName):
                _prepared_on.discard(pg)
                raise PreparedStatementsLost(str(exc)) from exc
            raise


_OPEN = (TransactionStatus.INTRANS, TransactionStatus.INERROR)


# --- SQLite: in process, a statement at a time.

_INSERT_SESSION_SQLITE = (
    f"INSERT INTO {_S} ({_NEW_SESSION_NAMES}) VALUES ("
    + ", ".join(["%s"] * len(_NEW_SESSION_COLUMNS))
    + ") RETURNING id"
)
_UPDATE_SESSION_SQLITE = (
    f"UPDATE {_S} SET last_seen_at = %s, duration_s = %s, pageviews = %s, "
    "exit_path = %s, is_bounce = is_bounce AND %s, has_exit = %s, minute_started_at = %s, "
    "minute_pageviews = %s, engaged_ms = %s, view_scroll = %s WHERE id = %s"
)
_INSERT_EVENT_SQLITE = (
    f"INSERT INTO {_E} ({_EVENT_NAMES}) VALUES ({', '.join(['%s'] * len(_EVENT_COLUMNS))})"
)
# SQLite 3.24+: add, don't overwrite.
_COUNT_DROPS_SQLITE = (
    f"INSERT INTO {_D} (website_id, day, reason, count) VALUES (%s, %s, %s, %s) "
    f"ON CONFLICT (website_id, day, reason) DO UPDATE SET count = {_D}.count + excluded.count"
)


def _adapted(row: Row, kinds: str) -> list[Any]:
    """``row`` with its datetime columns (kind ``d``) as SQLite stores them."""
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(v) if kind == "d" else v for v, kind in zip(row, kinds, strict=True)]


class _SqliteBatch:
    """One batch in an IMMEDIATE transaction, which holds the database's one write lock:
    no visitor lock to take."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def read(
        self,
        *,
        lock: list[int],
        keys: set[int],
        visitors: set[int],
        since: dt.datetime,
        starts: int,
    ) -> Found:
        found = Found()
        if keys:
            stored = Event.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True)
            found.stored_keys = {key for key in stored if key is not None}
        # The ORM, which converts SQLite's text timestamps.
        rows = Session.objects.filter(visitor_id__in=visitors, last_seen_at__gte=since)
        found.sessions = list(rows.values_list(*LOADED))
        return found

    def write(
        self,
        new: list[OpenSession],
        changed: list[OpenSession],
        stored: list[tuple[IncomingEvent, OpenSession]],
        drops: Counter[DropKey],
    ) -> None:
        cur = self.cur
        for session, row in zip(new, _new_session_rows(new), strict=True):
            cur.execute(_INSERT_SESSION_SQLITE, _adapted(row, _NEW_SESSION_KINDS))
            session.pk = cur.fetchone()[0]
        if changed:
            rows = [_adapted(row, _UPDATE_KINDS) for row in _update_rows(changed)]
            cur.executemany(_UPDATE_SESSION_SQLITE, rows)
        if stored:
            rows = [_adapted(row, _EVENT_KINDS) for row in _event_rows(stored)]
            cur.executemany(_INSERT_EVENT_SQLITE, rows)
        if drops:
            cur.executemany(_COUNT_DROPS_SQLITE, _drop_rows(drops))


@contextmanager
def _batch_sqlite() -> Iterator[_SqliteBatch]:
    with transaction.atomic(), connection.cursor() as cur:
        yield _SqliteBatch(cur)


POSTGRESQL = Statements(batch=_batch_pg)
SQLITE = Statements(batch=_batch_sqlite)


def for_connection() -> Statements:
    """The statements for the database of Django's default connection."""
    return POSTGRESQL if connection.vendor == "postgresql" else SQLITE
