"""``write_events()``: the only code that inserts Event rows, and the group commit in front of it.

Live ingestion hands each event to ``submit()``, which blocks the request until the event
is durably committed. One writer thread per process takes every event that arrived while
the previous commit was running and writes them together in one transaction: a few
queries per batch instead of several per event, and no added latency when traffic is
light (a lone event is written at once).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)

from tracking import sql
from tracking.identity import lock_visitors
from tracking.models import PAGEVIEW_TYPES, DropCount, DropReason, Event, EventType, Session
from tracking.pipeline import IncomingEvent
from websites.models import Website

log = logging.getLogger(__name__)

# What continuing a session changes (loaded with the session, written back per batch).
_SESSION_FIELDS = (
    "last_seen_at",
    "duration_s",
    "pageviews",
    "exit_path",
    "is_bounce",
    "has_exit",
    "minute_started_at",
    "minute_pageviews",
)
# What the writer loads of a visitor's latest session, in this order.
_LOADED = ("id", "website_id", "visitor_id", "started_at", *_SESSION_FIELDS)


class _Open:
    """A session as the writer sees it: loaded as a tuple (``_LOADED``), or started by
    ``first`` in this batch (``pk`` None until inserted). Plain slots, not a model instance:
    building ``Session`` objects through the ORM was a fifth of the writer's CPU time."""

    __slots__ = ("pk", "website_id", "visitor_id", "started_at", *_SESSION_FIELDS, "first")

    def __init__(self, row: Sequence, first: IncomingEvent | None = None) -> None:  # type: ignore[type-arg]
        (
            self.pk, self.website_id, self.visitor_id, self.started_at, self.last_seen_at,
            self.duration_s, self.pageviews, self.exit_path, self.is_bounce, self.has_exit,
            self.minute_started_at, self.minute_pageviews,
        ) = row  # fmt: skip
        self.first = first


_MINUTE = dt.timedelta(minutes=1)

DropKey = tuple[int, dt.date, str]  # (website id, UTC day, reason)


@dataclass(slots=True)
class WriteResult:
    stored: int = 0
    dropped: int = 0
    website_ids: set[int] = field(default_factory=set)
    stored_flags: list[bool] = field(default_factory=list)
    dropped_by_reason: Counter[str] = field(default_factory=Counter)


def write_events(
    events: Sequence[IncomingEvent], *, drops: Counter[DropKey] | None = None
) -> WriteResult:
    """Assign sessions to ``events`` and store them, in one transaction.

    Events are applied in time order. An event whose ``dedup_key`` is already stored (a
    retried beacon) is dropped as ``DUPLICATE``. An event continues the visitor's latest
    session when it comes less than ``SESSION_IDLE_MINUTES`` after that session's last
    event (today's visitor id or, across local midnight, yesterday's); otherwise a page
    view starts a new session and a ``PAGE_EXIT`` is dropped (``EXIT_WITHOUT_SESSION``).
    A page view beyond ``INGEST_SESSION_PAGEVIEWS_PER_MINUTE`` in its session's current
    one-minute window is dropped (``RATE_LIMITED``). ``drops`` are other dropped events to
    count in the same transaction; every drop is counted. Returns what was stored, with
    ``stored_flags`` in the order of ``events``.
    """
    try:
        return _write_events(events, drops)
    except IntegrityError:
        # Two copies of one client event, sent from two visitor ids (the IP changed between
        # the attempts), were written at the same moment by two processes: the per-visitor
        # lock did not serialise them, both checks found nothing and the unique index
        # refused the later insert once the other copy committed. Everything rolled back;
        # the second attempt sees that copy and drops this one as a duplicate. (Any other
        # integrity error fails again and is raised.)
        return _write_events(events, drops)


def _write_events(
    events: Sequence[IncomingEvent], extra_drops: Counter[DropKey] | None
) -> WriteResult:
    result = WriteResult(stored_flags=[False] * len(events))
    drops = Counter(extra_drops or {})
    idle = dt.timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    cap = settings.INGEST_SESSION_PAGEVIEWS_PER_MINUTE
    order = sorted(range(len(events)), key=lambda i: events[i].at)

    def drop(ev: IncomingEvent, reason: DropReason) -> None:
        drops[(ev.website_id, ev.at.date(), reason)] += 1
        result.dropped += 1
        result.dropped_by_reason[reason] += 1

    with transaction.atomic(), sql.cursor() as cur:
        if events:
            lock_visitors(cur, [e.visitor_id for e in events])
            # After the lock: a copy of the same event from the same visitor, committed by
            # another process while we waited, is visible to this statement.
            seen = _stored_dedup_keys(cur, events)
            open_sessions = _latest_sessions(cur, events, idle)
        else:
            seen, open_sessions = set(), {}
        new_sessions: list[_Open] = []
        changed: dict[int, _Open] = {}
        rows: list[tuple[IncomingEvent, _Open]] = []
        for i in order:
            ev = events[i]
            if ev.dedup_key is not None and ev.dedup_key in seen:
                drop(ev, DropReason.DUPLICATE)
                continue
            session = _continuing(open_sessions, ev, idle)
            if session is None:
                if ev.type == EventType.PAGE_EXIT:
                    drop(ev, DropReason.EXIT_WITHOUT_SESSION)
                    continue
                session = _new_session(ev)
                open_sessions[(ev.website_id, ev.visitor_id)] = session
                new_sessions.append(session)
            else:
                if not _extend(session, ev, cap):
                    drop(ev, DropReason.RATE_LIMITED)
                    continue
                if session.pk is not None:
                    changed[session.pk] = session
            if ev.dedup_key is not None:
                seen.add(ev.dedup_key)
            rows.append((ev, session))
            result.stored_flags[i] = True
        if new_sessions:
            _insert_sessions(cur, new_sessions)
        if changed:
            _update_sessions(cur, list(changed.values()))
        if rows:
            _insert_events(cur, rows)
        if drops:
            _count_drops(cur, drops)
    result.stored = len(rows)
    result.website_ids = {ev.website_id for ev, _ in rows}
    return result


def _stored_dedup_keys(cur: Any, events: Sequence[IncomingEvent]) -> set[int]:
    """The dedup keys of ``events`` that are already stored (one index probe per key)."""
    keys = {e.dedup_key for e in events if e.dedup_key is not None}
    if not keys:
        return set()
    if connection.vendor == "postgresql":
        sql.execute(cur, _STORED_KEYS_PG, [sql.ints(keys)], binary=True)
        return {key for (key,) in cur.fetchall()}
    return set(Event.objects.filter(dedup_key__in=keys).values_list("dedup_key", flat=True))


def _latest_sessions(
    cur: Any, events: Sequence[IncomingEvent], idle: dt.timedelta
) -> dict[tuple[int, int], _Open]:
    """The most recent session of each visitor id in the batch that could still continue."""
    ids = {e.visitor_id for e in events} | {e.previous_visitor_id for e in events}
    since = min(e.at for e in events) - idle
    if connection.vendor == "postgresql":
        # Binary results: psycopg's C loaders (Django's text timestamptz loader is a
        # Python subclass, ~4% of a worker's CPU here). Same values, in UTC.
        # Not prepared: its plan depends on the table's size (see sql.execute).
        sql.execute(cur, _LATEST_SESSIONS_PG, [sql.ints(ids), since], prepare=False,
                    binary=True)  # fmt: skip
        found = cur.fetchall()
    else:  # the ORM converts SQLite's text timestamps
        found = Session.objects.filter(visitor_id__in=ids, last_seen_at__gte=since).values_list(
            *_LOADED
        )
    latest: dict[tuple[int, int], _Open] = {}
    for row in found:
        key = (row[1], row[2])
        if key not in latest or latest[key].last_seen_at < row[4]:
            latest[key] = _Open(row)
    return latest


def _continuing(
    sessions: dict[tuple[int, int], _Open], ev: IncomingEvent, idle: dt.timedelta
) -> _Open | None:
    best = None
    for vid in (ev.visitor_id, ev.previous_visitor_id):
        session = sessions.get((ev.website_id, vid))
        if session is None or not (session.started_at <= ev.at < session.last_seen_at + idle):
            continue
        if best is None or session.last_seen_at > best.last_seen_at:
            best = session
    return best


def _new_session(ev: IncomingEvent) -> _Open:
    return _Open(
        (None, ev.website_id, ev.visitor_id, ev.at, ev.at, 0, 1, ev.path, True, False, ev.at, 1),
        first=ev,
    )


def _extend(session: _Open, ev: IncomingEvent, cap: int) -> bool:
    """Add ``ev`` to ``session``; False (and the session unchanged) for a page view over the
    per-minute cap (``cap``; 0: no cap)."""
    if ev.type in PAGEVIEW_TYPES:
        start = session.minute_started_at
        if start is None or ev.at >= start + _MINUTE:
            session.minute_started_at, session.minute_pageviews = ev.at, 0
        if cap and session.minute_pageviews >= cap:
            return False
        session.minute_pageviews += 1
    if ev.at > session.last_seen_at:
        session.last_seen_at = ev.at
    session.duration_s = int((session.last_seen_at - session.started_at).total_seconds())
    if ev.type in PAGEVIEW_TYPES:
        session.pageviews += 1
        session.exit_path = ev.path
    else:
        session.has_exit = True
    session.is_bounce = session.pageviews == 1
    return True


# The statements below run for every batch. Django's bulk_update() builds a CASE
# expression per field and row and bulk_create() a model instance per row: measured at
# about 70% of the writer's CPU time. Plain parameterised statements instead. On PostgreSQL
# each is one statement over arrays (``unnest``): a fixed number of parameters whatever the
# batch size, where executemany pays psycopg's pipeline bookkeeping per row. SQLite runs
# the row-wise forms (in process, no round trips to save).
_S = Session._meta.db_table
_E = Event._meta.db_table
_STORED_KEYS_PG = f"SELECT dedup_key FROM {_E} WHERE dedup_key = ANY(%s::bigint[])"
_LATEST_SESSIONS_PG = (
    f"SELECT {', '.join(_LOADED)} FROM {_S} "
    "WHERE visitor_id = ANY(%s::bigint[]) AND last_seen_at >= %s"
)
_NEW_SESSION_COLUMNS = (
    "website_id", "visitor_id", "started_at", "last_seen_at", "duration_s", "entry_path",
    "exit_path", "pageviews", "is_bounce", "has_exit", "browser", "os", "device", "source",
    "referrer_host", "utm_source", "utm_medium", "utm_campaign", "screen",
    "minute_started_at", "minute_pageviews",
)  # fmt: skip
_NEW_SESSION_TYPES = (
    "bigint", "bigint", "timestamptz", "timestamptz", "integer", "text", "text", "integer",
    "boolean", "boolean", "text", "text", "text", "text", "text", "text", "text", "text",
    "integer", "timestamptz", "integer",
)  # fmt: skip
_KIND = {"bigint": "i", "integer": "i", "text": "t", "timestamptz": "d", "boolean": "b"}


def _arrays(types: tuple[str, ...]) -> str:
    """``%s::type[]`` per column: the array parameters of an ``unnest``."""
    return ", ".join(f"%s::{t}[]" for t in types)


def _kinds(types: tuple[str, ...]) -> str:
    """The columns' kinds for ``sql.columns`` (the same types as the statement's casts)."""
    return "".join(_KIND[t] for t in types)


_NEW_SESSION_KINDS = _kinds(_NEW_SESSION_TYPES)
_INSERT_SESSIONS_PG = (
    f"INSERT INTO {_S} ({', '.join(_NEW_SESSION_COLUMNS)}) SELECT * FROM unnest("
    + _arrays(_NEW_SESSION_TYPES)
    + ") RETURNING id, website_id, visitor_id, started_at"
)
_INSERT_SESSION_ROW = (
    f"INSERT INTO {_S} ({', '.join(_NEW_SESSION_COLUMNS)}) VALUES ("
    + ", ".join(["%s"] * len(_NEW_SESSION_COLUMNS))
    + ") RETURNING id"
)
_UPDATE_TYPES = (
    "timestamptz", "integer", "integer", "text", "boolean", "boolean", "timestamptz",
    "integer", "bigint",
)  # fmt: skip
_UPDATE_KINDS = _kinds(_UPDATE_TYPES)
_UPDATE_SESSIONS_PG = (
    f"UPDATE {_S} AS s SET last_seen_at = v.last_seen_at, duration_s = v.duration_s, "
    "pageviews = v.pageviews, exit_path = v.exit_path, is_bounce = v.is_bounce, "
    "has_exit = v.has_exit, minute_started_at = v.minute_started_at, "
    "minute_pageviews = v.minute_pageviews "
    f"FROM unnest({_arrays(_UPDATE_TYPES)}) "
    "AS v(last_seen_at, duration_s, pageviews, exit_path, is_bounce, has_exit, "
    "minute_started_at, minute_pageviews, id) WHERE s.id = v.id"
)
_UPDATE_SESSION = (
    f"UPDATE {_S} SET last_seen_at = %s, duration_s = %s, pageviews = %s, "
    "exit_path = %s, is_bounce = %s, has_exit = %s, minute_started_at = %s, "
    "minute_pageviews = %s WHERE id = %s"
)
_EVENT_COLUMNS = "website_id, session_id, type, path, created_at, engaged_ms, dedup_key"
_EVENT_TYPES = ("bigint", "bigint", "text", "text", "timestamptz", "integer", "bigint")
_EVENT_KINDS = _kinds(_EVENT_TYPES)
_INSERT_EVENTS_PG = (
    f"INSERT INTO {_E} ({_EVENT_COLUMNS}) SELECT * FROM unnest({_arrays(_EVENT_TYPES)})"
)
_INSERT_EVENT = f"INSERT INTO {_E} ({_EVENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"


def _insert_sessions(cur: Any, sessions: list[_Open]) -> None:
    """Insert the sessions this batch started, with their values after the batch, and set
    their ids."""
    rows = []
    for s in sessions:
        ev = s.first
        assert ev is not None
        rows.append((
            s.website_id, s.visitor_id, s.started_at, s.last_seen_at, s.duration_s, ev.path,
            s.exit_path, s.pageviews, s.is_bounce, s.has_exit, ev.browser, ev.os, ev.device,
            ev.source, ev.referrer_host, ev.utm_source, ev.utm_medium, ev.utm_campaign,
            ev.screen, s.minute_started_at, s.minute_pageviews,
        ))  # fmt: skip
    if connection.vendor == "postgresql":
        sql.execute(cur, _INSERT_SESSIONS_PG, sql.columns(rows, _NEW_SESSION_KINDS), binary=True)
        # Matched by (website, visitor, start), not by position: PostgreSQL does not
        # promise RETURNING in the order of the arrays. Unique within a batch: a second
        # event of that visitor at that time continues the session.
        by_key = {(w, v, t): pk for pk, w, v, t in cur.fetchall()}
        ids = [by_key[(s.website_id, s.visitor_id, s.started_at)] for s in sessions]
    else:
        ids = []
        for row in rows:
            cur.execute(_INSERT_SESSION_ROW, _adapted(row, _NEW_SESSION_KINDS))
            ids.append(cur.fetchone()[0])
    for session, pk in zip(sessions, ids, strict=True):
        session.pk = pk


def _update_sessions(cur: Any, sessions: list[_Open]) -> None:
    rows = [
        (s.last_seen_at, s.duration_s, s.pageviews, s.exit_path, s.is_bounce, s.has_exit,
         s.minute_started_at, s.minute_pageviews, s.pk)
        for s in sessions
    ]  # fmt: skip
    # Not prepared: the join's plan depends on the table's size (see sql.execute).
    _write_rows(cur, _UPDATE_SESSIONS_PG, _UPDATE_SESSION, rows, _UPDATE_KINDS, prepare=False)


def _insert_events(cur: Any, rows: list[tuple[IncomingEvent, _Open]]) -> None:
    values = [
        (ev.website_id, session.pk, ev.type, ev.path, ev.at,
         ev.engaged_ms if ev.type == EventType.PAGE_EXIT else None, ev.dedup_key)
        for ev, session in rows
    ]  # fmt: skip
    _write_rows(cur, _INSERT_EVENTS_PG, _INSERT_EVENT, values, _EVENT_KINDS)


def _write_rows(
    cur: Any,
    pg_statement: str,
    row_statement: str,
    rows: list[tuple],  # type: ignore[type-arg]
    kinds: str,
    *,
    prepare: bool = True,
) -> None:
    """PostgreSQL: ``pg_statement`` once, a column of ``rows`` per array parameter
    (``kinds``: see ``sql.columns``). SQLite: ``row_statement`` per row."""
    if connection.vendor == "postgresql":
        sql.execute(cur, pg_statement, sql.columns(rows, kinds), prepare=prepare)
    else:
        cur.executemany(row_statement, [_adapted(row, kinds) for row in rows])


def _adapted(row: tuple, kinds: str) -> list:  # type: ignore[type-arg]
    """``row`` with its datetime columns (kind ``d``) as SQLite stores them."""
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(v) if kind == "d" else v for v, kind in zip(row, kinds, strict=True)]


def _count_drops(cur: Any, drops: Counter[DropKey]) -> None:
    # One statement that SQLite (3.24+) and PostgreSQL both understand: add, don't overwrite.
    table = DropCount._meta.db_table
    cur.executemany(
        f"INSERT INTO {table} (website_id, day, reason, count) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT (website_id, day, reason) DO UPDATE SET count = {table}.count + "
        "excluded.count",
        # Sorted: concurrent writers then lock the counter rows in the same order.
        sorted((site, day, str(reason), n) for (site, day, reason), n in drops.items()),
    )


def _website_exists(website_id: int) -> bool:
    try:
        return Website.objects.filter(pk=website_id).exists()
    except Exception:
        connection.close()
        return True  # cannot tell: report the original failure


class IngestUnavailable(Exception):
    """The event could not be committed; the client is told to retry (503)."""


# Errors that say the database cannot be reached (stopped, restarting, the pool found no
# connection in time), as opposed to one bad row: retrying the batch's events one by one
# would only wait again for each of them.
_UNREACHABLE = (OperationalError, InterfaceError)
_RECONNECT_PAUSE_S = 0.25  # between a writer's connection attempts while the database is down
# A request past its deadline waits on while the database is merely slow (a burst, a busy
# machine: the writers are committing, only late), up to _OVERLOAD_PATIENCE_S. It is answered
# 503 at once when the database is known to be unreachable (a writer's connection or commit
# failed with a connection error, and none has succeeded since), or when nothing at all was
# committed for _HUNG_S while it waited (a database that hangs without failing).
# A stall alone is not enough: on a busy machine (CI) commits pause for more than 0.25 s
# now and then, which answered a live database's events 503.
_HUNG_S = 2.0
_OVERLOAD_PATIENCE_S = 10.0


def _close_quietly() -> None:
    try:
        connection.close()
    except Exception:  # a connection that broke: the pool discards it anyway
        connection.connection = None


class _Done:
    """A one-shot signal from the writer thread to its request thread: a lock held from
    creation and released once. ``threading.Event`` waits and notifies through a Python
    ``Condition`` (about a tenth of a worker's CPU in the profile); a lock waits in C.
    Only one thread calls ``set`` (the writer that took the event)."""

    __slots__ = ("_lock", "_set")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._set = False

    def set(self) -> None:
        if not self._set:
            self._set = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        if self._set:
            return True
        if self._lock.acquire(timeout=-1 if timeout is None else timeout):
            self._lock.release()
            return True
        return False


class _Pending:
    __slots__ = ("event", "done", "stored", "error", "state", "lock")

    def __init__(self, event: IncomingEvent) -> None:
        self.event = event
        self.done = _Done()
        self.stored = False
        self.error: BaseException | None = None
        self.state = "queued"  # -> "taken" by a writer, or "cancelled" by a timed-out request
        self.lock = threading.Lock()

    def take(self) -> bool:
        """Claim for a batch; False when its request gave up (it was answered 503)."""
        with self.lock:
            if self.state == "cancelled":
                return False
            self.state = "taken"
            return True

    def cancel(self) -> bool:
        """Give up before a writer took it: then it is never stored and a retry is safe."""
        with self.lock:
            if self.state == "taken":
                return False
            self.state = "cancelled"
            return True


class GroupCommitter:
    """Writer threads per process; requests wait on their own event until committed.

    Faults: a writer makes sure it has a working connection *before* it takes events from
    the queue, so while the database is unreachable events stay untaken and their requests
    are answered 503 at their deadline (``submit``'s timeout), with nothing stored. A batch
    that fails because the connection broke fails as a whole (503, retried by the client)
    instead of being retried event by event. A writer thread never dies of an error: it
    logs, drops its connection and reconnects through the pool.
    """

    def __init__(
        self, *, max_batch: int, on_commit=None, inline: bool = False, writers: int = 1
    ) -> None:  # type: ignore[no-untyped-def]
        self.writers = writers
        self.inline = inline
        self._queue: queue.Queue[_Pending] = queue.Queue()
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._drops: Counter[DropKey] = Counter()
        self._drops_lock = threading.Lock()
        self._pid = 0
        self._start_lock = threading.Lock()
        self._unreachable_since = 0.0  # monotonic; 0 while the database answers
        self._last_commit_at = 0.0  # monotonic, of the last successful commit
        # A writer idle this long hands its connection back (tests hold it longer).
        self.idle_close_s = 1.0

    def submit(self, event: IncomingEvent, *, timeout: float = 30.0) -> bool:
        """Block until ``event`` is committed; True if stored, False if dropped.

        Raises ``IngestUnavailable`` when it could not be stored: its commit failed, or no
        writer took it within ``timeout`` seconds while the database is unreachable (a
        writer's last connection attempt or commit failed) or hangs (nothing committed for
        ``_HUNG_S``); a database that is only slow is waited for, up to
        ``_OVERLOAD_PATIENCE_S``. Either way nothing of it is stored
        and the client may retry; only a connection lost during COMMIT leaves the outcome
        unknown, and then the event's client id makes the retry a counted duplicate
        instead of a second copy."""
        if self.inline:
            drops = self._take_drops()
            try:
                result = write_events([event], drops=drops)
            except DatabaseError as exc:
                # Rolled back: nothing of it is stored, so the client may retry (503).
                if not connection.in_atomic_block:
                    connection.close()
                with self._drops_lock:
                    self._drops.update(drops)
                if not isinstance(exc, _UNREACHABLE) and not _website_exists(event.website_id):
                    return False
                raise IngestUnavailable(str(exc)) from exc
            self._notify(result.website_ids)
            return result.stored_flags[0]
        self._ensure_thread()
        # A request thread that borrowed a connection (a cache miss: site lookup, salt) must
        # hand it back before it waits: otherwise waiting requests can hold the whole pool
        # while the writer thread waits for a connection to commit them (a deadlock).
        if connection.connection is not None and not connection.in_atomic_block:
            connection.close()
        pending = _Pending(event)
        queued_at = time.monotonic()
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            limit = queued_at + _OVERLOAD_PATIENCE_S
            while not pending.done.wait(0.05):
                now = time.monotonic()
                if (
                    not self._unreachable_since
                    and now - max(self._last_commit_at, queued_at) < _HUNG_S
                    and now < limit
                ):
                    continue  # slow, not gone: it is about to be stored
                if pending.cancel():
                    raise IngestUnavailable("timed out waiting for the database")
                # Already in a transaction: its outcome decides the answer, so a 503 always
                # means "not stored" and the client's retry cannot store it twice.
                pending.done.wait()
        if pending.error is not None:
            raise IngestUnavailable(str(pending.error)) from pending.error
        return pending.stored

    def count_drop(self, website_id: int, day: dt.date, reason: DropReason) -> None:
        """Count an event dropped before the writer; flushed with the next commit."""
        with self._drops_lock:
            self._drops[(website_id, day, reason)] += 1
        if self.inline:
            write_events([], drops=self._take_drops())
        else:
            self._ensure_thread()

    def _ensure_thread(self) -> None:
        # Workers may fork after import: each process needs its own writer thread.
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid != os.getpid():
                self._queue = queue.Queue()
                # Several writers keep commits in flight while one waits for the disk; the
                # per-visitor locks keep them correct (see identity.lock_visitors).
                for n in range(self.writers):
                    threading.Thread(
                        target=self._run, name=f"ingest-writer-{n}", daemon=True
                    ).start()
                atexit.register(self._flush_drops_at_exit)
                self._pid = os.getpid()

    def _flush_drops_at_exit(self) -> None:
        # Counted drops normally go out with the next commit (at most a second later);
        # a process stopping in between writes them here rather than losing them.
        drops = self._take_drops()
        if drops:
            try:
                write_events([], drops=drops)
            except Exception:
                log.exception("could not write %d drop counts at exit", sum(drops.values()))

    def _take_drops(self) -> Counter[DropKey]:
        with self._drops_lock:
            drops, self._drops = self._drops, Counter()
        return drops

    def _run(self) -> None:
        waiting: list[_Pending] = []
        while True:
            taken: list[_Pending] = []
            try:
                waiting = self._cycle(waiting, taken)
            except Exception as exc:
                # Never let the thread die: its events would wait forever.
                log.exception("ingest writer failed; going on")
                for pending in taken:
                    if not pending.done.is_set():
                        pending.error = exc
                        pending.done.set()
                waiting = []
                _close_quietly()
                time.sleep(_RECONNECT_PAUSE_S)

    def _cycle(self, waiting: list[_Pending], taken: list[_Pending]) -> list[_Pending]:
        """One batch: gather, connect, take, commit. Returns the events gathered but not
        taken because the database is unreachable (tried again next cycle, unless their
        requests gave up meanwhile). ``taken`` receives the events this cycle took."""
        q = self._queue
        batch = waiting
        if not batch:
            try:
                batch = [q.get(timeout=self.idle_close_s)]
            except queue.Empty:
                # Idle: hand the connection back (to the pool on PostgreSQL) rather than
                # holding it between bursts.
                _close_quietly()
        while len(batch) < self._max_batch:
            try:
                batch.append(q.get_nowait())
            except queue.Empty:
                break
        if not batch and not self._drops:
            return []
        if not self._connected():
            return [p for p in batch if p.state != "cancelled"]
        taken += [p for p in batch if p.take()]
        drops = self._take_drops()
        if taken or drops:
            self._commit(taken, drops)
        return []

    def _connected(self) -> bool:
        """A working connection before events are taken: an event taken by a writer is
        answered by that writer's outcome, one still queued is answered 503 at its
        request's deadline (and the client's retry is then safe)."""
        try:
            connection.ensure_connection()
        except Exception as exc:
            _close_quietly()
            if not self._unreachable_since:
                self._unreachable_since = time.monotonic()
                log.error("database unreachable, events are answered 503 until it returns: %s",
                          exc)  # fmt: skip
            time.sleep(_RECONNECT_PAUSE_S)
            return False
        if self._unreachable_since:
            log.warning("database reachable again after %.1f s",
                        time.monotonic() - self._unreachable_since)  # fmt: skip
            self._unreachable_since = 0.0
        return True

    def _commit(self, batch: list[_Pending], drops: Counter[DropKey]) -> None:
        try:
            result = write_events([p.event for p in batch], drops=drops)
        except Exception as exc:
            _close_quietly()
            with self._drops_lock:
                self._drops.update(drops)  # counted with the next commit instead
            if isinstance(exc, _UNREACHABLE):
                # The connection broke (the database stopped or restarted): everything
                # rolled back, so every request of the batch is answered 503 at once, and
                # the requests still queued at their deadline.
                log.error("group commit of %d events failed: %s", len(batch), exc)
                if not self._unreachable_since:
                    self._unreachable_since = time.monotonic()
                self._fail(batch, exc)
                return
            log.exception("group commit of %d events failed; writing them one by one", len(batch))
            result = None
        if result is None:
            # One bad row must not fail its neighbours: retry each alone.
            site_ids: set[int] = set()
            for i, pending in enumerate(batch):
                try:
                    one = write_events([pending.event])
                    pending.stored = one.stored_flags[0]
                    site_ids |= one.website_ids
                except _UNREACHABLE as exc:
                    _close_quietly()
                    self._fail(batch[i:], exc)
                    break
                except Exception as exc:
                    _close_quietly()
                    if not _website_exists(pending.event.website_id):
                        # Deleted after this process cached its id: nothing left to count.
                        pending.stored = False
                    else:
                        log.exception("event could not be written")
                        pending.error = exc
                pending.done.set()
            self._notify(site_ids)
            return
        self._last_commit_at = time.monotonic()
        self._unreachable_since = 0.0
        for pending, stored in zip(batch, result.stored_flags, strict=True):
            pending.stored = stored
            pending.done.set()
        self._notify(result.website_ids)

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for pending in batch:
            pending.error = exc
            pending.done.set()

    def _notify(self, website_ids: set[int]) -> None:
        if self._on_commit and website_ids:
            try:
                self._on_commit(website_ids)
            except Exception:
                log.exception("post-commit hook failed")
