"""Open buckets kept up to date by absorbing what changed since the last refresh.

A bucket's snapshot is a sum over its visitors: each session adds its measures (and its
events in the bucket add theirs), and each visitor adds 1 to the visitors of every value
one of its sessions has. So a refresh only reads the sessions that changed since the last
one (found through the events made since then: events are never updated, and every
session change comes with one), and all the sessions of their visitors (a few: visitor
ids are salted per day); it takes back what those sessions added before and adds what
they add now. A session's record (``OpenRecord``, kept while it may still change) says
what it added: its mutable fields, and the keys and funnel steps its events gave; so only
its new events are read, each adding to the totals by itself (``Pass.record``).

Events made before ``OpenPart.seen_until`` are all committed (``MARGIN`` after they were
made); the ones made since are read again by the next refresh, which skips those it has
seen (``seen_ids``). An import of older events moves the bucket back (``fill.mark_dirty``
drops its part), and a goal or funnel change rebuilds it: both read the whole bucket once.
The totals equal ``buckets.bucket_snapshot`` of the bucket exactly (the equivalence test).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, count, groupby
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from django.conf import settings
from django.db import connection, models
from django.db.models import Min, Q, QuerySet

from goals.models import Goal
from goals.selectors import funnel_list, goal_list
from rollups.models import Granularity, OpenPart, OpenRecord, OpenRow, Snapshot, SnapshotRow
from stats import conversions, measures
from stats.dimensions import BY_NAME, SESSION_DIMENSIONS
from tracking import sql
from tracking.models import PAGEVIEW_TYPES, Event, EventType, Session
from websites.models import Website

# How long after it was made an event is surely committed (the writer commits within
# milliseconds; an import of older events drops the part instead).
MARGIN = dt.timedelta(seconds=60)
# Ids per IN list (bounded on both databases), and rows per fetch of a rebuild's cursors.
CHUNK = 2000
# The format of ``OpenRecord.contribution``, in each part's ``definitions``: a part kept in
# another one is rebuilt.
RECORDS = "records-2"

PAGE = BY_NAME["page"].name
SUMMARY = ""
Key = tuple[str, str]  # (dimension, value); the bucket's headline measures are ("", "")
VKey = tuple[str, str, str]  # a key and the local day that visitors are distinct within
Measures = Counter[str]
_SESSION_FIELDS = (
    "id",
    "visitor_id",
    "started_at",
    "last_seen_at",
    "pageviews",
    "is_bounce",
    "has_exit",
    "duration_s",
    "engaged_ms",
    *sorted({d.field for d in SESSION_DIMENSIONS}),
)
_EVENT_FIELDS = (
    "session_id",
    "created_at",
    "type",
    "path",
    "engaged_ms",
    "scroll_pct",
    "engaged_view",
    "engaged_path",
    "name",
    "props",
    "id",
)
# The session fields the writer updates (``tracking.statements``): a record keeps them.
_MUTABLE = ("pageviews", "is_bounce", "has_exit", "duration_s", "engaged_ms", "exit_path")
_MUTABLE_DIMENSIONS = tuple(d for d in SESSION_DIMENSIONS if d.field in _MUTABLE)
_CONVERSIONS = (conversions.EVENT, conversions.PROP, conversions.GOAL)


@dataclass
class Contribution:
    """What one session adds to a bucket: measures per key, the keys its visitor has
    (``event_keys``: the ones its events give), and how far it went in each funnel."""

    measures: dict[Key, Measures] = field(default_factory=lambda: defaultdict(Counter))
    vkeys: set[VKey] = field(default_factory=set)
    event_keys: set[VKey] = field(default_factory=set)
    progress: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Bucket:
    website: Website
    granularity: str
    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo
    goals: tuple[Goal, ...]
    funnels: tuple[tuple[int, tuple[Goal, ...]], ...]
    # The local day of every instant of the bucket, when there is one (not for an hour
    # that a half-hour time zone's midnight splits).
    only_day: str | None = None

    def day_of(self, at: dt.datetime) -> str:
        return self.only_day or at.astimezone(self.tz).date().isoformat()

    @property
    def day(self) -> bool:
        # Conversions are kept for whole days only, as in ``buckets.bucket_snapshot``.
        return self.granularity == Granularity.DAY

    def holds(self, s: Mapping[str, Any]) -> bool:
        """Whether session ``s`` started in the bucket (its own measures count here)."""
        return bool(self.start <= s["started_at"] < self.end)

    def signature(self) -> str:
        """The goal and funnel definitions the totals count, and the records' format."""
        goals = [_goal_signature(g) for g in self.goals]
        funnels = [(fid, [_goal_signature(g) for g in steps]) for fid, steps in self.funnels]
        return f"{RECORDS} {(goals, funnels)!r}" if self.day else RECORDS


def _goal_signature(goal: Goal) -> tuple[Any, ...]:
    return (goal.id, goal.kind, goal.event_name, goal.prop_key, goal.prop_value, goal.page_pattern)


def bucket_of(website: Website, granularity: str, start: dt.datetime, end: dt.datetime) -> Bucket:
    day = granularity == Granularity.DAY
    goals = tuple(goal_list(website)) if day else ()
    funnels = (
        tuple((f.id, tuple(s.goal for s in f.steps.all())) for f in funnel_list(website))
        if day
        else ()
    )
    tz = website.tz
    first, last = start.astimezone(tz).date(), (end - dt.timedelta.resolution).astimezone(tz).date()
    only_day = first.isoformat() if first == last else None
    return Bucket(website, granularity, start, end, tz, goals, funnels, only_day)


def contribution(
    bucket: Bucket,
    s: Mapping[str, Any],
    events: Sequence[tuple[Any, ...]],
    into: dict[Key, Measures] | None = None,
) -> Contribution:
    """What session ``s`` (its ``_SESSION_FIELDS``) and its ``events`` (``_EVENT_FIELDS``,
    all of them, in time order) add to ``bucket``; the same definitions as ``stats.raw``
    and ``stats.conversions``. Its measures are added to ``into`` when given."""
    out = Contribution(progress=[0] * len(bucket.funnels))
    if into is not None:
        out.measures = into
    if bucket.holds(s):
        _add_session(s, out.measures)
        out.vkeys = _session_keys(s)
        out.progress = _advance(bucket, events, out.progress)
        _add_funnels(bucket, [0] * len(bucket.funnels), out.progress, out.measures)
    _add_events(bucket, events, out.measures, out.event_keys)
    out.vkeys |= out.event_keys
    return out


def _session_row(s: Mapping[str, Any]) -> dict[str, int]:
    return {
        "pageviews": s["pageviews"],
        "sessions": 1,
        "bounces": int(s["is_bounce"]),
        "duration_s": s["duration_s"],
        "exits": int(s["has_exit"]),
        "engaged_ms": s["engaged_ms"] or 0,
    }


def _add_head(m: dict[Key, Measures], row: Mapping[str, int], sign: int = 1) -> None:
    # The headline counts a session's page views apart: its page views are its events'.
    head = m[(SUMMARY, "")]
    for name, value in row.items():
        head["session_pageviews" if name == "pageviews" else name] += sign * value


def _add_session(s: Mapping[str, Any], m: dict[Key, Measures], sign: int = 1) -> None:
    """The measures of the session itself (not of its events), per session dimension."""
    row = _session_row(s)
    _add_head(m, row, sign)
    for dimension in SESSION_DIMENSIONS:
        _add(m[(dimension.name, s[dimension.field])], row, sign)


def _session_delta(was: Mapping[str, Any], s: Mapping[str, Any], m: dict[Key, Measures]) -> None:
    """``_add_session`` of ``s`` minus that of ``was`` (the same session, before)."""
    old, new = _session_row(was), _session_row(s)
    diff = {name: new[name] - old[name] for name in new if new[name] != old[name]}
    _add_head(m, diff)
    for dimension in SESSION_DIMENSIONS:
        before, now = was[dimension.field], s[dimension.field]
        if before != now:
            _add(m[(dimension.name, before)], old, -1)
            _add(m[(dimension.name, now)], new)
        elif diff:
            _add(m[(dimension.name, now)], diff)


def _session_keys(s: Mapping[str, Any]) -> set[VKey]:
    return {(SUMMARY, "", ""), *((d.name, s[d.field], "") for d in SESSION_DIMENSIONS)}


def _advance(bucket: Bucket, events: Sequence[tuple[Any, ...]], progress: list[int]) -> list[int]:
    """The funnel steps reached after ``events``, from ``progress`` (in funnel order)."""
    out = []
    for (_, steps), k in zip(bucket.funnels, progress, strict=True):
        for ev in events:
            if k == len(steps):
                break
            if steps[k].matches(ev[2], ev[3], ev[8], ev[9]):
                k += 1
        out.append(k)
    return out


def _add_funnels(
    bucket: Bucket, before: Sequence[int], after: Sequence[int], m: dict[Key, Measures]
) -> None:
    for (fid, _), a, b in zip(bucket.funnels, before, after, strict=True):
        for step in range(a + 1, b + 1):
            m[(conversions.FUNNEL, conversions.funnel_step(fid, step))]["pageviews"] += 1


def _add_events(
    bucket: Bucket, events: Iterable[tuple[Any, ...]], m: dict[Key, Measures], keys: set[VKey]
) -> None:
    """What ``events`` add by themselves (each apart from the others), and their keys."""
    for _, at, type_, path, ms, scroll, view, engaged_path, name, props, _ in events:
        if not bucket.start <= at < bucket.end:
            continue
        day = bucket.day_of(at)
        if type_ in PAGEVIEW_TYPES:
            m[(SUMMARY, "")]["pageviews"] += 1
            page = m[(PAGE, path)]
            page["pageviews"] += 1
            page["items"] += 1
            keys.add((PAGE, path, day))
        if view is not None:
            page = m[(PAGE, engaged_path if engaged_path is not None else path)]
            page["items"] += 1
            page["engaged_ms"] += ms or 0
            page["engaged_views"] += int(bool(view) and ms is not None)
            page["scroll_pct_sum"] += scroll or 0
            page["scroll_views"] += int(bool(view) and scroll is not None)
        if not bucket.day:
            continue
        found: list[Key] = []
        if type_ == EventType.EVENT:
            found.append((conversions.EVENT, str(name)))
            if props is not None:
                found.extend(
                    (conversions.PROP, conversions.prop_value(name or "", k, str(v)))
                    for k, v in props.items()
                )
        found.extend(
            (conversions.GOAL, str(g.id))
            for g in bucket.goals
            if g.matches(type_, path, name, props)
        )
        for key in found:
            m[key]["pageviews"] += 1
            keys.add((*key, day))


def _add(total: Measures, measures_: Mapping[str, int], sign: int = 1) -> None:
    # Counter.update and .subtract check the argument's type on each call: a third of a
    # rebuild's time, once per session and key.
    for name, value in measures_.items():
        if value:
            total[name] += sign * value


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def fetch(rows: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
    """The tuples of a ``values_list`` query. On PostgreSQL in the binary format, loaded by
    psycopg's C loaders: Django's Python timestamp loader took a third of a refresh."""
    if connection.vendor != "postgresql":
        return list(rows)
    statement, params = rows.query.sql_with_params()
    with sql.cursor() as cur:
        cur.execute(statement, params, binary=True)
        found: list[tuple[Any, ...]] = cur.fetchall()
        return found


# (column, PostgreSQL type) of the rows ``_insert`` writes.
_RECORD_COLUMNS = (
    ("part_id", "bigint"),
    ("session_id", "bigint"),
    ("last_seen_at", "timestamptz"),
    ("contribution", "jsonb"),
)
_ROW_COLUMNS = (
    ("part_id", "bigint"),
    ("dimension", "text"),
    ("value", "text"),
    ("measures", "jsonb"),
)


def _insert(
    model: type[models.Model],
    columns: tuple[tuple[str, str], ...],
    rows: Sequence[tuple[Any, ...]],
    unique: tuple[str, ...] = (),
) -> None:
    """Insert ``rows`` (a value per column; JSON as Python objects); each replaces the row
    with the same ``unique`` columns, if any. On PostgreSQL in one statement over arrays:
    ``bulk_create`` quotes each element of its arrays in Python."""
    if not rows:
        return
    names = [name for name, _ in columns]
    others = [name for name in names if name not in unique]
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(names, row, strict=True))) for row in rows]
        if unique:
            model._default_manager.bulk_create(
                objs, update_conflicts=True, unique_fields=unique, update_fields=others
            )
        else:
            model._default_manager.bulk_create(objs, batch_size=500)
        return
    types = [t for _, t in columns]
    texts = [
        tuple(json.dumps(v) if t == "jsonb" else v for v, t in zip(row, types, strict=True))
        for row in rows
    ]
    statement = "INSERT INTO {} ({}) SELECT * FROM unnest({})".format(
        model._meta.db_table,
        ", ".join(names),
        sql.arrays(types),
    )
    if unique:
        statement += " ON CONFLICT ({}) DO UPDATE SET {}".format(
            ", ".join(unique), ", ".join(f"{name} = EXCLUDED.{name}" for name in others)
        )
    with sql.cursor() as cur:
        sql.execute(cur, statement, sql.columns(texts, sql.kinds(types)), prepare=False)


def stream(rows: QuerySet[Any, Any], chunk: int) -> Iterator[tuple[Any, ...]]:
    """``fetch``, ``chunk`` rows per round trip (a server-side cursor, inside the
    transaction: PostgreSQL streams it)."""
    if connection.vendor != "postgresql":
        yield from rows.iterator(chunk_size=chunk)
        return
    statement, params = rows.query.sql_with_params()
    connection.ensure_connection()
    name = f"rollups_stream_{next(_STREAMS)}"
    with (
        connection.wrap_database_errors,
        psycopg.ServerCursor(connection.connection, name) as cur,
    ):
        cur.itersize = chunk
        cur.execute(statement, params, binary=True)
        yield from cur


_STREAMS = count()


def _position(ev: tuple[Any, ...]) -> list[int]:
    """Where an event sorts among its session's (time, then id), as JSON keeps it."""
    return [(ev[1] - _EPOCH) // _MICROSECOND, ev[-1]]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


class Reader:
    """The raw data one refresh reads, shared by the buckets it brings up to date (the
    open hour's sessions are the open day's too).

    The events made since ``since`` are read first: a session or event read after them
    holds every change those events made (a session and its events commit together).
    """

    def __init__(self, website: Website, since: dt.datetime, first: dt.datetime) -> None:
        self.website = website
        self.since = since
        self.first = first  # the earliest bucket start this reader serves
        self.window = _events_since(website, since)
        self._sessions: dict[int, list[dict[str, Any]]] = {}
        self._events: dict[int, list[tuple[Any, ...]]] = {}
        self._recent: dict[int, list[tuple[Any, ...]]] = {}
        self._visitor_of: dict[int, tuple[int, dt.datetime, dt.datetime]] = {}

    def visitors(self, session_ids: set[int], start: dt.datetime, end: dt.datetime) -> list[int]:
        """The visitors of these sessions that started before ``end`` and were seen from
        ``start`` on."""
        missing = sorted(i for i in session_ids if i not in self._visitor_of)
        for chunk in _chunks(missing):
            for i, v, started, seen in fetch(
                Session.objects.filter(id__in=chunk).values_list(
                    "id", "visitor_id", "started_at", "last_seen_at"
                )
            ):
                self._visitor_of[i] = (v, started, seen)
        return [
            v
            for i in session_ids
            if (found := self._visitor_of.get(i)) is not None
            for v, started, seen in [found]
            if started < end and seen >= start
        ]

    def sessions(self, visitor_ids: Iterable[int]) -> list[dict[str, Any]]:
        """The sessions of these visitors seen from ``first`` on."""
        wanted = set(visitor_ids)
        missing = sorted(v for v in wanted if v not in self._sessions)
        for v in missing:
            self._sessions[v] = []
        for chunk in _chunks(missing):
            for row in fetch(
                Session.objects.filter(
                    website=self.website, visitor_id__in=chunk, last_seen_at__gte=self.first
                ).values_list(*_SESSION_FIELDS)
            ):
                s = dict(zip(_SESSION_FIELDS, row, strict=True))
                self._sessions[s["visitor_id"]].append(s)
        return [s for v in wanted for s in self._sessions[v]]

    def events(self, session_ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
        """Every event of these sessions, in time order (``_EVENT_FIELDS``)."""
        self._read(self._events, [i for i in session_ids if i not in self._events], None)
        return {i: self._events[i] for i in session_ids}

    def recent(self, session_ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
        """The events of these sessions made from ``since`` on, in time order."""
        for i in session_ids:
            if i not in self._recent and i in self._events:
                self._recent[i] = [e for e in self._events[i] if e[1] >= self.since]
        self._read(self._recent, [i for i in session_ids if i not in self._recent], self.since)
        return {i: self._recent[i] for i in session_ids}

    def _read(
        self, into: dict[int, list[tuple[Any, ...]]], ids: list[int], since: dt.datetime | None
    ) -> None:
        for i in ids:
            into[i] = []
        made = {} if since is None else {"created_at__gte": since}
        for chunk in _chunks(ids):
            for ev in fetch(
                Event.objects.filter(session_id__in=chunk, **made)
                .order_by("session_id", "created_at", "id")
                .values_list(*_EVENT_FIELDS)
            ):
                into[ev[0]].append(ev)


@dataclass
class Pass:
    """One bucket's refresh: what it absorbs into (``delta``) and the records it
    replaces; ``since`` is the part's ``seen_until`` before it, ``keep_after`` after it."""

    bucket: Bucket
    part: OpenPart
    since: dt.datetime
    keep_after: dt.datetime
    delta: dict[Key, Measures] = field(default_factory=lambda: defaultdict(Counter))
    keep: list[tuple[int, int, dt.datetime, dict[str, Any]]] = field(default_factory=list)

    def record(
        self,
        s: Mapping[str, Any],
        event_keys: set[VKey],
        progress: list[int],
        recent: Sequence[tuple[Any, ...]],
        last: list[int] | None,
    ) -> None:
        """Keep what a session added, if it may still change: its mutable fields, the
        keys and funnel steps of its events, the last one, and the ids of those made from
        ``keep_after`` on (an older one is never read as new again)."""
        if s["last_seen_at"] + _idle() <= self.keep_after:
            return
        state = {
            "s": [s[name] for name in _MUTABLE],
            "e": [e[-1] for e in recent if e[1] >= self.keep_after],
            "k": sorted(event_keys),
            "f": progress,
            "z": last,
        }
        self.keep.append((self.part.pk, s["id"], s["last_seen_at"], state))


def _absorb(
    p: Pass,
    reader: Reader,
    visitor_ids: Iterable[int],
    touched: set[int],
) -> None:
    """Add to ``p.delta`` what the sessions of these visitors add now minus what they
    added before: a session with a record added what it records, a ``touched`` one with
    none nothing (it is new here), another one what it adds now."""
    bucket = p.bucket
    sessions = {
        s["id"]: s
        for s in reader.sessions(visitor_ids)
        if s["started_at"] < bucket.end and s["last_seen_at"] >= bucket.start
    }
    if not sessions:
        return
    ids = sorted(sessions)
    records: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for session_id, data in fetch(
            OpenRecord.objects.filter(part=p.part, session_id__in=chunk).values_list(
                "session_id", "contribution"
            )
        ):
            records[session_id] = data
    recent = reader.recent([i for i in ids if i in records])
    reader.events([i for i in ids if i not in records])
    by_visitor: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions.values():
        by_visitor[s["visitor_id"]].append(s)
    for visitor_sessions in by_visitor.values():
        _absorb_visitor(
            p, visitor_sessions, lambda i: reader.events([i])[i], recent, records, touched
        )
    # A replaced record not kept is of a session that can no longer change: the prune of
    # ``refresh_bucket`` drops it.
    _insert(OpenRecord, _RECORD_COLUMNS, p.keep, unique=("part_id", "session_id"))


def _absorb_visitor(
    p: Pass,
    visitor_sessions: Sequence[Mapping[str, Any]],
    events_of: Callable[[int], Sequence[tuple[Any, ...]]],
    recent: Mapping[int, Sequence[tuple[Any, ...]]],
    records: Mapping[int, dict[str, Any]],
    touched: set[int] | None,
) -> None:
    """``_absorb`` for the sessions of one visitor in the bucket (all of them):
    ``events_of`` a session gives all its events, ``recent`` those of the sessions with a
    record made from ``p.since`` on; ``touched`` None: every session is new here."""
    bucket, delta = p.bucket, p.delta
    old_keys: set[VKey] = set()
    new_keys: set[VKey] = set()
    for s in visitor_sessions:
        sid = s["id"]
        record = records.get(sid)
        if record is not None:
            done = set(record["e"])
            mine = recent.get(sid, ())
            fresh = [e for e in mine if e[1] >= p.since and e[-1] not in done]
            state = [s[name] for name in _MUTABLE]
            was = {**s, **dict(zip(_MUTABLE, record["s"], strict=True))}
            recorded_keys = {(d, v, day) for d, v, day in record["k"]}
            if not fresh and state == record["s"]:  # unchanged since it was absorbed
                keys = recorded_keys | (_session_keys(s) if bucket.holds(s) else set())
                old_keys |= keys
                new_keys |= keys
                continue
            if not fresh or record["z"] is None or record["z"] < _position(fresh[0]):
                progress = record["f"]
                if bucket.holds(s):
                    _session_delta(was, s, delta)
                    progress = _advance(bucket, fresh, progress)
                    _add_funnels(bucket, record["f"], progress, delta)
                    keys = _session_keys(s)
                    moved = any(was[d.field] != s[d.field] for d in _MUTABLE_DIMENSIONS)
                    old_keys |= _session_keys(was) if moved else keys
                    new_keys |= keys
                event_keys = set(recorded_keys)
                _add_events(bucket, fresh, delta, event_keys)
                old_keys |= recorded_keys
                new_keys |= event_keys
                last = _position(fresh[-1]) if fresh else record["z"]
                p.record(s, event_keys, progress, mine, last)
                continue
            # An event made before one already absorbed: the funnels must be walked
            # again, from all the session's events.
            seen = events_of(sid)
            new_ids = {e[-1] for e in seen if e[1] >= p.since and e[-1] not in done}
            old = contribution(bucket, was, [e for e in seen if e[-1] not in new_ids])
            old_keys |= old.vkeys
            for key, m in old.measures.items():
                _add(delta[key], m, -1)
        elif touched is None or sid in touched:  # new here: it added nothing before
            seen = events_of(sid)
        else:  # unchanged, and no longer changing
            keys = contribution(bucket, s, events_of(sid)).vkeys
            old_keys |= keys
            new_keys |= keys
            continue
        now = contribution(bucket, s, seen, delta)
        new_keys |= now.vkeys
        last = _position(seen[-1]) if seen else None
        p.record(s, now.event_keys, now.progress, seen, last)
    for d, v, _ in new_keys - old_keys:
        delta[(d, v)]["visitors"] += 1
    for d, v, _ in old_keys - new_keys:
        delta[(d, v)]["visitors"] -= 1


def _rebuild(p: Pass) -> None:
    """``_absorb`` of every session of the bucket into a new part, read in two sequential
    queries (sessions, and their events) ordered by visitor, one visitor at a time."""
    bucket = p.bucket
    website = bucket.website
    in_bucket = Event.objects.filter(
        website=website, created_at__gte=bucket.start, created_at__lt=bucket.end
    )
    first = in_bucket.aggregate(first=Min("session__started_at"))["first"]
    first = bucket.start if first is None else min(first, bucket.start)
    # The sessions that started in the bucket or have events in it, and a few that gave
    # nothing (seen from its start on but with no event in it): they add nothing.
    where = {
        "website": website,
        "started_at__gte": first,
        "started_at__lt": bucket.end,
        "last_seen_at__gte": bucket.start,
    }
    sessions = (
        dict(zip(_SESSION_FIELDS, row, strict=True))
        for row in stream(
            Session.objects.filter(**where)
            .order_by("visitor_id", "id")
            .values_list(*_SESSION_FIELDS),
            CHUNK,
        )
    )
    head = next(sessions, None)  # the sessions' query runs first, as in ``Reader``
    # A session's events are made from its start on (``tracking.sessions`` assigns them so).
    events = stream(
        Event.objects.filter(
            website=website,
            created_at__gte=first,
            **{f"session__{name}": value for name, value in where.items()},
        )
        .order_by("session__visitor_id", "session_id", "created_at", "id")
        .values_list("session__visitor_id", *_EVENT_FIELDS),
        CHUNK * 5,
    )
    pending = next(events, None)
    read = chain([head], sessions) if head is not None else sessions
    for visitor, group in groupby(read, key=lambda s: s["visitor_id"]):
        visitor_sessions = list(group)
        seen: dict[int, list[tuple[Any, ...]]] = {}
        for s in visitor_sessions:
            mine = seen[s["id"]] = []
            key = (visitor, s["id"])
            # Skipped: events of a session the sessions' query did not see (changed since):
            # it has an event after ``seen_until``, so the next refresh absorbs it whole.
            while pending is not None and (pending[0], pending[1]) <= key:
                if pending[1] == s["id"]:
                    mine.append(pending[1:])
                pending = next(events, None)
        _absorb_visitor(p, visitor_sessions, seen.__getitem__, {}, {}, None)
        if len(p.keep) >= CHUNK:
            _insert(OpenRecord, _RECORD_COLUMNS, p.keep)
            p.keep.clear()
    _insert(OpenRecord, _RECORD_COLUMNS, p.keep)


def _idle() -> dt.timedelta:
    return dt.timedelta(minutes=settings.SESSION_IDLE_MINUTES)


def refresh_bucket(
    website: Website,
    granularity: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    reader: Reader | None = None,
) -> None:
    """Bring the snapshot of the open bucket ``[start, end)`` up to date with the data
    committed so far. Call inside ``Watermark.locked()`` of the granularity; ``reader``:
    the data read for the refresh of several buckets (``Reader``), made before the lock."""
    bucket = bucket_of(website, granularity, start, end)
    where = {"website": website, "granularity": granularity, "start": start}
    part = OpenPart.objects.filter(**where).first()
    signature = bucket.signature()
    if part is not None and part.definitions != signature:
        part.delete()
        part = None
    seen_until = now - MARGIN if part is None else max(part.seen_until, now - MARGIN)
    since = seen_until if part is None else part.seen_until
    if reader is None or reader.since > since or reader.first > start:
        reader = Reader(website, since, start)  # a concurrent refresh moved it meanwhile
    if part is None:
        part = OpenPart.objects.create(
            **where, seen_until=seen_until, seen_ids=[], definitions=signature
        )
        p = Pass(bucket, part, since, seen_until)
        _rebuild(p)
        full = True
    else:
        p = Pass(bucket, part, since, seen_until)
        seen = _expand(part.seen_ids)
        touched = {row[2] for row in reader.window if row[1] >= since and row[0] not in seen}
        _absorb(p, reader, reader.visitors(touched, start, end), touched)
        full = False
    changed = _apply(part, p.delta)
    part.seen_until = seen_until
    part.seen_ids = _runs(sorted(row[0] for row in reader.window if row[1] >= seen_until))
    part.save(update_fields=["seen_until", "seen_ids"])
    # A session seen last an idle gap before ``seen_until`` gets no more events.
    OpenRecord.objects.filter(part=part, last_seen_at__lte=seen_until - _idle()).delete()
    _write(bucket, part, changed, full, now)


def reader_for(website: Website, first: dt.datetime, now: dt.datetime) -> Reader:
    """One ``Reader`` for refreshing the buckets from ``first`` on at ``now``."""
    parts = OpenPart.objects.filter(website=website, start__gte=first)
    since = min([now - MARGIN, *parts.values_list("seen_until", flat=True)])
    return Reader(website, since, first)


def _events_since(website: Website, since: dt.datetime) -> list[tuple[Any, ...]]:
    """(id, created_at, session id) of the events made from ``since`` on."""
    return fetch(
        Event.objects.filter(website=website, created_at__gte=since).values_list(
            "id", "created_at", "session_id"
        )
    )


def _runs(ids: Sequence[int]) -> list[list[int]]:
    """Sorted ids as runs of consecutive ones, ``[first, last]``: the ids of a minute of one
    website's events are mostly consecutive, and a part keeps thousands of them."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def _expand(runs: Iterable[Sequence[int]]) -> set[int]:
    return {i for first, last in runs for i in range(first, last + 1)}


def _keys_q(keys: Iterable[Key]) -> Q:
    """Rows of these (dimension, value) keys, in one condition."""
    by_dimension: dict[str, list[str]] = defaultdict(list)
    for d, v in keys:
        by_dimension[d].append(v)
    q = Q(pk__in=[])
    for d, values in by_dimension.items():
        q |= Q(dimension=d, value__in=values)
    return q


def _apply(part: OpenPart, delta: Mapping[Key, Measures]) -> dict[Key, OpenRow | None]:
    """Add ``delta`` to the part's rows; returns the changed keys' rows (None: gone)."""
    changed = [k for k, m in delta.items() if any(m.values())]
    rows: dict[Key, OpenRow] = {}
    for chunk in _chunks(changed):
        for found in OpenRow.objects.filter(_keys_q(chunk), part=part):
            rows[(found.dimension, found.value)] = found
    out: dict[Key, OpenRow | None] = {}
    new: list[OpenRow] = []
    gone: list[int] = []
    for key in changed:
        row: OpenRow | None = rows.get(key)
        total = Counter(row.measures if row is not None else {})
        total.update(delta[key])
        measures_ = {k: v for k, v in total.items() if v}
        if row is not None:
            gone.append(row.pk)
        # Written again rather than updated: bulk_update builds a CASE per row.
        row = OpenRow(part=part, dimension=key[0], value=key[1], measures=measures_)
        if measures_:
            new.append(row)
        out[key] = row if measures_ else None
    for chunk in _chunks(gone):
        OpenRow.objects.filter(pk__in=chunk).delete()
    _insert(OpenRow, _ROW_COLUMNS, [(part.pk, r.dimension, r.value, r.measures) for r in new])
    return out


def _write(
    bucket: Bucket,
    part: OpenPart,
    changed: Mapping[Key, OpenRow | None],
    full: bool,
    now: dt.datetime,
) -> None:
    """Write the snapshot and the rows of the ``changed`` keys (all, if ``full``)."""
    where = {"website": bucket.website, "granularity": bucket.granularity, "start": bucket.start}
    stored: list[OpenRow] = []
    if full:
        SnapshotRow.objects.filter(**where).delete()
        stored = list(OpenRow.objects.filter(part=part))
    else:
        keys = [k for k in changed if k[0] not in (SUMMARY, conversions.FUNNEL)]
        for chunk in _chunks(keys):
            SnapshotRow.objects.filter(_keys_q(chunk), **where).delete()
        stored = [row for k in keys if (row := changed[k]) is not None]
    skip = (SUMMARY, conversions.FUNNEL)
    out = [r for row in stored if row.dimension not in skip and (r := _row(where, row))]
    if full or any(d == conversions.FUNNEL for d, _ in changed):
        SnapshotRow.objects.filter(**where, dimension=conversions.FUNNEL).delete()
        out.extend(_funnel_rows(bucket, part, where))
    SnapshotRow.objects.bulk_create(out, batch_size=500)
    head_row = (
        changed[(SUMMARY, "")]
        if (SUMMARY, "") in changed
        else OpenRow.objects.filter(part=part, dimension=SUMMARY, value="").first()
    )
    head = Counter(head_row.measures if head_row is not None else {})
    Snapshot.objects.filter(**where).delete()
    exists = (
        head["sessions"]
        or head["pageviews"]
        or OpenRow.objects.filter(part=part).exclude(dimension=SUMMARY).exists()
    )
    if exists:
        Snapshot.objects.create(**where, computed_at=now, **{m: head[m] for m in measures.SUMMARY})


def _row(where: Mapping[str, Any], row: OpenRow) -> SnapshotRow | None:
    m = Counter(row.measures)
    base = {**where, "dimension": row.dimension, "value": row.value}
    if row.dimension == PAGE:
        if not m["items"]:
            return None
        return SnapshotRow(**base, **{name: m[name] for name in measures.PAGE})
    if row.dimension in _CONVERSIONS:
        if not m["pageviews"]:
            return None
        return SnapshotRow(**base, pageviews=m["pageviews"], visitors=m["visitors"])
    if not m["sessions"]:
        return None
    return SnapshotRow(**base, **{name: m[name] for name in measures.ROW})


def _funnel_rows(bucket: Bucket, part: OpenPart, where: Mapping[str, Any]) -> list[SnapshotRow]:
    visits = {
        r.value: Counter(r.measures)["pageviews"]
        for r in OpenRow.objects.filter(part=part, dimension=conversions.FUNNEL)
    }
    out = []
    for fid, steps in bucket.funnels:
        if not visits.get(conversions.funnel_step(fid, 1)):
            continue
        for k in range(1, len(steps) + 1):
            value = conversions.funnel_step(fid, k)
            out.append(
                SnapshotRow(
                    **where,
                    dimension=conversions.FUNNEL,
                    value=value,
                    pageviews=visits.get(value, 0),
                    visitors=0,
                )
            )
    return out


def drop_parts(
    website: Website,
    granularity: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> None:
    """Forget the running totals of the buckets starting in ``[since, until)``: a closed
    bucket needs none, and an open one is rebuilt from raw data by its next refresh."""
    parts = OpenPart.objects.filter(website=website, granularity=granularity)
    if since is not None:
        parts = parts.filter(start__gte=since)
    if until is not None:
        parts = parts.filter(start__lt=until)
    parts.delete()
