"""Open buckets kept up to date by absorbing what changed since the last refresh.

A bucket's snapshot is a sum over its visitors: each session adds its measures (and its
events in the bucket add theirs), and each visitor adds 1 to the visitors of every value
one of its sessions has. So a refresh only reads the sessions that changed since the last
one (found through the events made since then: events are never updated, and every
session change comes with one), and all the sessions of their visitors (a few: visitor
ids are salted per day); it takes back what those sessions added before and adds what
they add now. What a session added before is computed again from its record
(``OpenRecord``: its mutable fields and its events' ids), kept while it may still change.

Events made before ``OpenPart.seen_until`` are all committed (``MARGIN`` after they were
made); the ones made since are read again by the next refresh, which skips those it has
seen (``seen_ids``). An import of older events moves the bucket back (``fill.mark_dirty``
drops its part), and a goal or funnel change rebuilds it: both read the whole bucket once.
The totals equal ``buckets.bucket_snapshot`` of the bucket exactly (the equivalence test).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, groupby
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Min, Q

from goals.models import Goal
from goals.selectors import funnel_list, goal_list
from rollups.models import Granularity, OpenPart, OpenRecord, OpenRow, Snapshot, SnapshotRow
from stats import conversions, measures
from stats.dimensions import BY_NAME, SESSION_DIMENSIONS
from tracking.models import PAGEVIEW_TYPES, Event, EventType, Session
from websites.models import Website

# How long after it was made an event is surely committed (the writer commits within
# milliseconds; an import of older events drops the part instead).
MARGIN = dt.timedelta(seconds=60)
# Ids per IN list (bounded on both databases), and rows per fetch of a rebuild's cursors.
CHUNK = 2000

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
_CONVERSIONS = (conversions.EVENT, conversions.PROP, conversions.GOAL)


@dataclass
class Contribution:
    """What one session adds to a bucket: measures per key, and the keys its visitor has."""

    measures: dict[Key, Measures] = field(default_factory=lambda: defaultdict(Counter))
    vkeys: set[VKey] = field(default_factory=set)


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

    def signature(self) -> str:
        """The goal and funnel definitions the totals count."""
        goals = [_goal_signature(g) for g in self.goals]
        funnels = [(fid, [_goal_signature(g) for g in steps]) for fid, steps in self.funnels]
        return repr((goals, funnels)) if self.day else ""


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
    bucket: Bucket, s: Mapping[str, Any], events: Sequence[tuple[Any, ...]]
) -> Contribution:
    """What session ``s`` (its ``_SESSION_FIELDS``) and its ``events`` (``_EVENT_FIELDS``,
    all of them, in time order) add to ``bucket``; the same definitions as ``stats.raw``
    and ``stats.conversions``."""
    out = Contribution()
    m = out.measures
    if bucket.start <= s["started_at"] < bucket.end:
        row = {
            "pageviews": s["pageviews"],
            "sessions": 1,
            "bounces": int(s["is_bounce"]),
            "duration_s": s["duration_s"],
            "exits": int(s["has_exit"]),
            "engaged_ms": s["engaged_ms"] or 0,
        }
        head = m[(SUMMARY, "")]
        _add(head, {k: v for k, v in row.items() if k != "pageviews"})
        head["session_pageviews"] += row["pageviews"]
        out.vkeys.add((SUMMARY, "", ""))
        for dimension in SESSION_DIMENSIONS:
            value = s[dimension.field]
            _add(m[(dimension.name, value)], row)
            out.vkeys.add((dimension.name, value, ""))
        for fid, steps in bucket.funnels:
            k = 0
            for ev in events:
                if k < len(steps) and steps[k].matches(ev[2], ev[3], ev[8], ev[9]):
                    k += 1
            for step in range(1, k + 1):
                m[(conversions.FUNNEL, conversions.funnel_step(fid, step))]["pageviews"] += 1
    for _, at, type_, path, ms, scroll, view, engaged_path, name, props, _ in events:
        if not bucket.start <= at < bucket.end:
            continue
        day = bucket.day_of(at)
        if type_ in PAGEVIEW_TYPES:
            m[(SUMMARY, "")]["pageviews"] += 1
            page = m[(PAGE, path)]
            page["pageviews"] += 1
            page["items"] += 1
            out.vkeys.add((PAGE, path, day))
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
            out.vkeys.add((*key, day))
    return out


def _add(total: Measures, measures_: Mapping[str, int], sign: int = 1) -> None:
    # Counter.update and .subtract check the argument's type on each call: a third of a
    # rebuild's time, once per session and key.
    for name, value in measures_.items():
        total[name] += sign * value


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Reader:
    """The raw data one refresh reads, shared by the buckets it brings up to date (the
    open hour's sessions are the open day's too).

    The events made since ``since`` are read first: a session read after them holds
    every change those events made (a session and its events commit together).
    """

    def __init__(self, website: Website, since: dt.datetime, first: dt.datetime) -> None:
        self.website = website
        self.since = since
        self.first = first  # the earliest bucket start this reader serves
        self.window = _events_since(website, since)
        self._sessions: dict[int, list[dict[str, Any]]] = {}
        self._events: dict[int, list[tuple[Any, ...]]] = {}
        self._visitor_of: dict[int, tuple[int, dt.datetime, dt.datetime]] = {}

    def visitors(self, session_ids: set[int], start: dt.datetime, end: dt.datetime) -> list[int]:
        """The visitors of these sessions that started before ``end`` and were seen from
        ``start`` on."""
        missing = sorted(i for i in session_ids if i not in self._visitor_of)
        for chunk in _chunks(missing):
            for i, v, started, seen in Session.objects.filter(id__in=chunk).values_list(
                "id", "visitor_id", "started_at", "last_seen_at"
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
            for s in Session.objects.filter(
                website=self.website, visitor_id__in=chunk, last_seen_at__gte=self.first
            ).values(*_SESSION_FIELDS):
                self._sessions[s["visitor_id"]].append(s)
        return [s for v in wanted for s in self._sessions[v]]

    def events(self, session_ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
        """Every event of these sessions, in time order (``_EVENT_FIELDS``)."""
        missing = [i for i in session_ids if i not in self._events]
        for i in missing:
            self._events[i] = []
        for chunk in _chunks(missing):
            for ev in (
                Event.objects.filter(session_id__in=chunk)
                .order_by("session_id", "created_at", "id")
                .values_list(*_EVENT_FIELDS)
            ):
                self._events[ev[0]].append(ev)
        return {i: self._events[i] for i in session_ids}


def _absorb(
    bucket: Bucket,
    part: OpenPart,
    reader: Reader,
    visitor_ids: Iterable[int],
    touched: set[int] | None,
    keep_after: dt.datetime,
    delta: dict[Key, Measures],
) -> None:
    """Add to ``delta`` what the sessions of these visitors add now minus what they added
    before: a ``touched`` session (all, for None) added its record or nothing, another one
    what it adds now. Records are kept for the sessions that may still change."""
    sessions = {
        s["id"]: s
        for s in reader.sessions(visitor_ids)
        if s["started_at"] < bucket.end and s["last_seen_at"] >= bucket.start
    }
    if not sessions:
        return
    ids = sorted(sessions)
    events = reader.events(ids)
    records: dict[int, dict[str, Any]] = {}
    if touched is not None:
        for chunk in _chunks(ids):
            for session_id, data in OpenRecord.objects.filter(
                part=part, session_id__in=chunk
            ).values_list("session_id", "contribution"):
                records[session_id] = data
    by_visitor: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in sessions.values():
        by_visitor[s["visitor_id"]].append(s)
    keep: list[OpenRecord] = []
    replaced: list[int] = []
    for visitor_sessions in by_visitor.values():
        _absorb_visitor(
            bucket,
            part,
            visitor_sessions,
            events,
            records,
            touched,
            keep_after,
            delta,
            keep,
            replaced,
        )
    for chunk in _chunks(replaced):
        OpenRecord.objects.filter(part=part, session_id__in=chunk).delete()
    OpenRecord.objects.bulk_create(keep, batch_size=1000)


def _absorb_visitor(
    bucket: Bucket,
    part: OpenPart,
    visitor_sessions: Sequence[Mapping[str, Any]],
    events: Mapping[int, Sequence[tuple[Any, ...]]],
    records: Mapping[int, dict[str, Any]],
    touched: set[int] | None,
    keep_after: dt.datetime,
    delta: dict[Key, Measures],
    keep: list[OpenRecord],
    replaced: list[int],
) -> None:
    """``_absorb`` for the sessions of one visitor in the bucket (all of them); appends
    the records to keep to ``keep`` and the sessions whose record goes to ``replaced``."""
    old_keys: set[VKey] = set()
    new_keys: set[VKey] = set()
    for s in visitor_sessions:
        seen = events[s["id"]]
        state = _state(s, seen)
        now = contribution(bucket, s, seen)
        record = records.get(s["id"])
        if record is not None and record != state:
            absorbed = set(record["e"])
            was = {**s, **dict(zip(_MUTABLE, record["s"], strict=True))}
            old = contribution(bucket, was, [e for e in seen if e[-1] in absorbed])
        elif record is None and (touched is None or s["id"] in touched):
            old = Contribution()
        else:
            old = now  # unchanged since it was absorbed
        old_keys |= old.vkeys
        new_keys |= now.vkeys
        if old is not now:
            if record is not None:
                replaced.append(s["id"])
            for key, m in now.measures.items():
                _add(delta[key], m)
            for key, m in old.measures.items():
                _add(delta[key], m, -1)
            if s["last_seen_at"] + _idle() > keep_after:
                keep.append(
                    OpenRecord(
                        part=part,
                        session_id=s["id"],
                        last_seen_at=s["last_seen_at"],
                        contribution=state,
                    )
                )
    for d, v, _ in new_keys - old_keys:
        delta[(d, v)]["visitors"] += 1
    for d, v, _ in old_keys - new_keys:
        delta[(d, v)]["visitors"] -= 1


def _rebuild(
    bucket: Bucket, part: OpenPart, keep_after: dt.datetime, delta: dict[Key, Measures]
) -> None:
    """``_absorb`` of every session of the bucket into a new part, read in two sequential
    queries (sessions, and their events) ordered by visitor, one visitor at a time."""
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
    sessions = iter(
        Session.objects.filter(**where)
        .order_by("visitor_id", "id")
        .values(*_SESSION_FIELDS)
        .iterator(chunk_size=CHUNK)
    )
    head = next(sessions, None)  # the sessions' query runs first, as in ``Reader``
    # A session's events are made from its start on (``tracking.sessions`` assigns them so).
    events = (
        Event.objects.filter(
            website=website,
            created_at__gte=first,
            **{f"session__{name}": value for name, value in where.items()},
        )
        .order_by("session__visitor_id", "session_id", "created_at", "id")
        .values_list("session__visitor_id", *_EVENT_FIELDS)
        .iterator(chunk_size=CHUNK * 5)
    )
    pending = next(events, None)
    keep: list[OpenRecord] = []
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
        _absorb_visitor(bucket, part, visitor_sessions, seen, {}, None, keep_after, delta, keep, [])
        if len(keep) >= CHUNK:
            OpenRecord.objects.bulk_create(keep, batch_size=1000)
            keep.clear()
    OpenRecord.objects.bulk_create(keep, batch_size=1000)


def _state(s: Mapping[str, Any], events: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """What a record keeps of a session: its mutable fields and its events' ids, enough
    to compute again what it added (events never change)."""
    values = [s[name] for name in _MUTABLE]
    return {"s": values, "e": [e[-1] for e in events]}


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
    delta: dict[Key, Measures] = defaultdict(Counter)
    if part is None:
        part = OpenPart.objects.create(
            **where, seen_until=seen_until, seen_ids=[], definitions=signature
        )
        _rebuild(bucket, part, seen_until, delta)
        full = True
    else:
        seen = set(part.seen_ids)
        touched = {row[2] for row in reader.window if row[1] >= since and row[0] not in seen}
        visitors = reader.visitors(touched, start, end)
        _absorb(bucket, part, reader, visitors, touched, seen_until, delta)
        full = False
    changed = _apply(part, delta)
    part.seen_until = seen_until
    part.seen_ids = sorted(row[0] for row in reader.window if row[1] >= seen_until)
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
    return list(
        Event.objects.filter(website=website, created_at__gte=since).values_list(
            "id", "created_at", "session_id"
        )
    )


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
    updated: list[OpenRow] = []
    empty: list[int] = []
    for key in changed:
        row: OpenRow | None = rows.get(key)
        total = Counter(row.measures if row is not None else {})
        total.update(delta[key])
        measures_ = {k: v for k, v in total.items() if v}
        if row is None:
            row = OpenRow(part=part, dimension=key[0], value=key[1], measures=measures_)
            if measures_:
                new.append(row)
        elif measures_:
            row.measures = measures_
            updated.append(row)
        else:
            empty.append(row.pk)
        out[key] = row if measures_ else None
    OpenRow.objects.bulk_create(new, batch_size=500)
    OpenRow.objects.bulk_update(updated, ["measures"], batch_size=500)
    for chunk in _chunks(empty):
        OpenRow.objects.filter(pk__in=chunk).delete()
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
