"""The ingest writer's SQL: each statement in its PostgreSQL and its SQLite form, and the
one choice between the two sets (``for_connection``).

Plain parameterised statements, not the ORM's ``bulk_create``/``bulk_update`` (a model
instance per row, a CASE expression per field and row: too slow for every batch, see
docs/PERFORMANCE.md). On PostgreSQL each write is one statement over arrays (``unnest``):
a fixed number of parameters whatever the batch size, where ``executemany`` pays psycopg's
pipeline bookkeeping per row. SQLite runs row-wise forms (in process, no round trips to
save). Rows are built here, next to the column lists they must match.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from django.db import connection

from tracking import sql
from tracking.models import DropCount, Event, EventType, Session
from tracking.pipeline import IncomingEvent
from tracking.sessions import LOADED, OpenSession

DropKey = tuple[int, dt.date, str]  # (website id, UTC day, reason): one drop counter
Row = tuple[Any, ...]

_S = Session._meta.db_table
_E = Event._meta.db_table
_D = DropCount._meta.db_table


def _adapted(row: Row, kinds: str) -> list[Any]:
    """``row`` with its datetime columns (kind ``d``) as SQLite stores them."""
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(v) if kind == "d" else v for v, kind in zip(row, kinds, strict=True)]


# --- The cursor a batch's statements run on: PostgreSQL's is ``sql.cursor``.


def _cursor_sqlite() -> AbstractContextManager[Any]:
    return connection.cursor()


# --- Lock visitors: serialise concurrent writers of the same visitors.

_LOCK_VISITORS_PG = "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k"


def _lock_visitors_pg(cur: Any, ids: list[int]) -> None:
    """Hold each visitor id's advisory lock until the transaction ends: two processes
    writing one visitor at once could otherwise both start a session. Taken in sorted
    order, so two batches never deadlock."""
    if ids:
        sql.execute(cur, _LOCK_VISITORS_PG, [sql.ints(sorted(set(ids)))])


def _lock_visitors_sqlite(cur: Any, ids: list[int]) -> None:
    """Nothing to take: IMMEDIATE transactions hold the database's one write lock."""


# --- Stored dedup keys: which of a batch's keys are already stored (an index probe each).

_STORED_KEYS_PG = f"SELECT dedup_key FROM {_E} WHERE dedup_key = ANY(%s::bigint[])"


def _stored_dedup_keys_pg(cur: Any, keys: set[int]) -> set[int]:
    # Not prepared: with the custom events' columns the generic plan of a nearly empty
    # table is a sequential scan (see sql.execute).
    sql.execute(cur, _STORED_KEYS_PG, [sql.ints(keys)], prepare=False, binary=True)
    return {key for (key,) in cur.fetchall()}


def _stored_dedup_keys_sqlite(cur: Any, keys: set[int]) -> set[int]:
    found = Event.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True)
    return {key for key in found if key is not None}


# --- Latest sessions: the sessions of these visitor ids seen since ``since`` (``LOADED``).

_LATEST_SESSIONS_PG = (
    f"SELECT {', '.join(LOADED)} FROM {_S} "
    "WHERE visitor_id = ANY(%s::bigint[]) AND last_seen_at >= %s"
)


def _latest_sessions_pg(
    cur: Any, visitor_ids: set[int], since: dt.datetime
) -> Iterable[Sequence[Any]]:
    # Binary results: psycopg's C loaders, not Django's Python timestamptz loader (same
    # values, in UTC). Not prepared: its plan depends on the table's size (sql.execute).
    params = [sql.ints(visitor_ids), since]
    sql.execute(cur, _LATEST_SESSIONS_PG, params, prepare=False, binary=True)
    rows: list[Row] = cur.fetchall()
    return rows


def _latest_sessions_sqlite(
    cur: Any, visitor_ids: set[int], since: dt.datetime
) -> Iterable[Sequence[Any]]:
    # The ORM, which converts SQLite's text timestamps.
    found = Session.objects.filter(visitor_id__in=visitor_ids, last_seen_at__gte=since)
    return found.values_list(*LOADED)


# --- Insert sessions: the sessions a batch started, with their values after the batch.

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
_INSERT_SESSIONS_PG = (
    f"INSERT INTO {_S} ({_NEW_SESSION_NAMES}) SELECT * FROM unnest("
    + sql.arrays(_NEW_SESSION_TYPES)
    + ") RETURNING id, website_id, visitor_id, started_at"
)
_INSERT_SESSION_SQLITE = (
    f"INSERT INTO {_S} ({_NEW_SESSION_NAMES}) VALUES ("
    + ", ".join(["%s"] * len(_NEW_SESSION_COLUMNS))
    + ") RETURNING id"
)


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


def _insert_sessions_pg(cur: Any, sessions: list[OpenSession]) -> list[int]:
    rows = _new_session_rows(sessions)
    sql.execute(cur, _INSERT_SESSIONS_PG, sql.columns(rows, _NEW_SESSION_KINDS), binary=True)
    # RETURNING follows no promised order: match by (website, visitor, start), unique in a
    # batch (a second event of that visitor at that time continues the session).
    by_key = {(w, v, t): pk for pk, w, v, t in cur.fetchall()}
    return [by_key[(s.website_id, s.visitor_id, s.started_at)] for s in sessions]


def _insert_sessions_sqlite(cur: Any, sessions: list[OpenSession]) -> list[int]:
    ids = []
    for row in _new_session_rows(sessions):
        cur.execute(_INSERT_SESSION_SQLITE, _adapted(row, _NEW_SESSION_KINDS))
        ids.append(cur.fetchone()[0])
    return ids


# --- Update sessions: what a batch changed of the sessions it continued.

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
_UPDATE_SESSION_SQLITE = (
    f"UPDATE {_S} SET last_seen_at = %s, duration_s = %s, pageviews = %s, "
    "exit_path = %s, is_bounce = is_bounce AND %s, has_exit = %s, minute_started_at = %s, "
    "minute_pageviews = %s, engaged_ms = %s, view_scroll = %s WHERE id = %s"
)


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


def _update_sessions_pg(cur: Any, sessions: list[OpenSession]) -> None:
    # Not prepared: the join's plan depends on the table's size (see sql.execute).
    columns = sql.columns(_update_rows(sessions), _UPDATE_KINDS)
    sql.execute(cur, _UPDATE_SESSIONS_PG, columns, prepare=False)


def _update_sessions_sqlite(cur: Any, sessions: list[OpenSession]) -> None:
    rows = _update_rows(sessions)
    cur.executemany(_UPDATE_SESSION_SQLITE, [_adapted(row, _UPDATE_KINDS) for row in rows])


# --- Insert events: the events a batch stores, each with its session.

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
_INSERT_EVENTS_PG = (
    f"INSERT INTO {_E} ({_EVENT_NAMES}) SELECT * FROM unnest({sql.arrays(_EVENT_TYPES)})"
)
_INSERT_EVENT_SQLITE = (
    f"INSERT INTO {_E} ({_EVENT_NAMES}) VALUES ({', '.join(['%s'] * len(_EVENT_COLUMNS))})"
)


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


def _insert_events_pg(cur: Any, stored: list[tuple[IncomingEvent, OpenSession]]) -> None:
    sql.execute(cur, _INSERT_EVENTS_PG, sql.columns(_event_rows(stored), _EVENT_KINDS))


def _insert_events_sqlite(cur: Any, stored: list[tuple[IncomingEvent, OpenSession]]) -> None:
    rows = _event_rows(stored)
    cur.executemany(_INSERT_EVENT_SQLITE, [_adapted(row, _EVENT_KINDS) for row in rows])


# --- Count drops: one statement both understand (SQLite 3.24+): add, don't overwrite.

_COUNT_DROPS = (
    f"INSERT INTO {_D} (website_id, day, reason, count) VALUES (%s, %s, %s, %s) "
    f"ON CONFLICT (website_id, day, reason) DO UPDATE SET count = {_D}.count + excluded.count"
)


def _count_drops(cur: Any, drops: Counter[DropKey]) -> None:
    # Sorted: concurrent writers then lock the counter rows in the same order.
    rows = sorted((site, day, str(reason), n) for (site, day, reason), n in drops.items())
    cur.executemany(_COUNT_DROPS, rows)


@dataclass(frozen=True, slots=True)
class Statements:
    """The writer's statements for one database. A batch opens ``cursor()`` inside its
    transaction and runs the others on it."""

    cursor: Callable[[], AbstractContextManager[Any]]
    lock_visitors: Callable[[Any, list[int]], None]
    stored_dedup_keys: Callable[[Any, set[int]], set[int]]
    latest_sessions: Callable[[Any, set[int], dt.datetime], Iterable[Sequence[Any]]]
    # The new sessions' ids, in the order given.
    insert_sessions: Callable[[Any, list[OpenSession]], list[int]]
    update_sessions: Callable[[Any, list[OpenSession]], None]
    insert_events: Callable[[Any, list[tuple[IncomingEvent, OpenSession]]], None]
    count_drops: Callable[[Any, Counter[DropKey]], None]


POSTGRESQL = Statements(
    cursor=sql.cursor,
    lock_visitors=_lock_visitors_pg,
    stored_dedup_keys=_stored_dedup_keys_pg,
    latest_sessions=_latest_sessions_pg,
    insert_sessions=_insert_sessions_pg,
    update_sessions=_update_sessions_pg,
    insert_events=_insert_events_pg,
    count_drops=_count_drops,
)
SQLITE = Statements(
    cursor=_cursor_sqlite,
    lock_visitors=_lock_visitors_sqlite,
    stored_dedup_keys=_stored_dedup_keys_sqlite,
    latest_sessions=_latest_sessions_sqlite,
    insert_sessions=_insert_sessions_sqlite,
    update_sessions=_update_sessions_sqlite,
    insert_events=_insert_events_sqlite,
    count_drops=_count_drops,
)


def for_connection() -> Statements:
    """The statements for the database of Django's default connection."""
    return POSTGRESQL if connection.vendor == "postgresql" else SQLITE
