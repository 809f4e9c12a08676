"""Session rules: which session each event of a batch is stored in, or why it is dropped.

Plain functions over plain data, no database: ``writer.write_events`` loads the batch's
stored dedup keys and its visitors' latest sessions, calls ``assign``, and writes what it
decided. Like the pipeline's steps, each ``drop_*`` rule returns a ``DropReason`` or None.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracking.models import PAGEVIEW_TYPES, DropReason, EventType
from tracking.pipeline import IncomingEvent

# What continuing a session changes (loaded with the session, written back per batch).
SESSION_FIELDS = (
    "last_seen_at",
    "duration_s",
    "pageviews",
    "exit_path",
    "is_bounce",
    "has_exit",
    "minute_started_at",
    "minute_pageviews",
    "engaged_ms",
    "view_scroll",
)
# What the writer loads of a visitor's latest session, in this order (``OpenSession``'s).
LOADED = ("id", "website_id", "visitor_id", "started_at", *SESSION_FIELDS)

MINUTE = dt.timedelta(minutes=1)

SessionKey = tuple[int, int]  # (website id, visitor id)


@dataclass(slots=True, eq=False)
class OpenSession:
    """A session as the writer sees it: loaded as a row (``OpenSession(*row)``, columns
    ``LOADED``), or started by ``first`` in this batch (``pk`` None until inserted).
    Plain slots, not a model instance: ORM instances cost too much on the hot path."""

    pk: int | None
    website_id: int
    visitor_id: int
    started_at: dt.datetime
    last_seen_at: dt.datetime
    duration_s: int
    pageviews: int
    exit_path: str
    is_bounce: bool
    has_exit: bool
    minute_started_at: dt.datetime | None
    minute_pageviews: int
    engaged_ms: int | None = None
    view_scroll: int | None = None
    first: IncomingEvent | None = None


def latest_by_visitor(rows: Iterable[Sequence[Any]]) -> dict[SessionKey, OpenSession]:
    """Each visitor id's session with the latest last event, of ``rows`` (``LOADED``)."""
    latest: dict[SessionKey, OpenSession] = {}
    for row in rows:
        key = (row[1], row[2])
        if key not in latest or latest[key].last_seen_at < row[4]:
            latest[key] = OpenSession(*row)
    return latest


def continuing(
    sessions: dict[SessionKey, OpenSession], ev: IncomingEvent, idle: dt.timedelta
) -> OpenSession | None:
    """The session ``ev`` continues: one that started no later than ``ev`` and whose last
    event is less than ``idle`` before it, of the visitor's id today or, across local
    midnight, yesterday; the one seen last if both qualify."""
    best = None
    for vid in (ev.visitor_id, ev.previous_visitor_id):
        session = sessions.get((ev.website_id, vid))
        if session is None or not (session.started_at <= ev.at < session.last_seen_at + idle):
            continue
        if best is None or session.last_seen_at > best.last_seen_at:
            best = session
    return best


def start(ev: IncomingEvent) -> OpenSession:
    """A new session made of ``ev`` alone: a page view opens a bounce and its minute
    window; a custom event (``EVENT``) opens a session of no page views, not a bounce."""
    is_pageview = ev.type in PAGEVIEW_TYPES
    return OpenSession(
        pk=None,
        website_id=ev.website_id,
        visitor_id=ev.visitor_id,
        started_at=ev.at,
        last_seen_at=ev.at,
        duration_s=0,
        pageviews=1 if is_pageview else 0,
        exit_path=ev.path,
        is_bounce=is_pageview,
        has_exit=False,
        minute_started_at=ev.at if is_pageview else None,
        minute_pageviews=1 if is_pageview else 0,
        first=ev,
    )


def report(session: OpenSession | None, ev: IncomingEvent) -> None:
    """Attribute ``ev``'s report (``engaged_ms``, ``scroll_pct``) to the page view it
    leaves: ``session``'s latest one (None: the event starts a visit, so the view it
    reports on belonged to an ended one and the report is dropped).

    The view's first report counts the view and its depth; a later one (the page was
    hidden, shown again and left again) adds its new time and only the depth gained, so
    sums per page stay exact whatever the number of reports. A ``PAGE_EXIT`` of another
    path than the latest view's is the exit beacon of a page left for a new one, overtaken
    by the new page's view: it reports on its own path, as that view's first report.
    Sets ``ev.engaged_view``, ``ev.scroll_add`` and ``ev.engaged_path`` from the payload's
    values, never from their own: the writer may apply a batch twice.
    """
    ev.engaged_view = ev.scroll_add = ev.engaged_path = None
    if session is None or (ev.engaged_ms is None and ev.scroll_pct is None):
        return
    if ev.type not in (EventType.PATH_CHANGE, EventType.PAGE_EXIT):
        return
    if ev.engaged_ms:
        session.engaged_ms = (session.engaged_ms or 0) + ev.engaged_ms
    if ev.type == EventType.PAGE_EXIT and ev.path != session.exit_path:
        ev.engaged_view, ev.scroll_add = True, ev.scroll_pct
        return
    before = session.view_scroll
    ev.engaged_view = before is None
    ev.engaged_path = None if session.exit_path == ev.path else session.exit_path
    if ev.scroll_pct is not None:
        ev.scroll_add = ev.scroll_pct if before is None else max(0, ev.scroll_pct - before)
    session.view_scroll = max(before or 0, ev.scroll_pct or 0)


def extend(session: OpenSession, ev: IncomingEvent) -> None:
    """Add ``ev`` to ``session``: last event, duration, page views, exit, bounce, and the
    page views of the current one-minute window.

    A bounce is a session with exactly one page view and no custom event. Page views only
    grow and events are never taken back, so once a session is not a bounce it never is
    again, and a bounce stays one only through a ``PAGE_EXIT``: another page view makes
    two, an ``EVENT`` is a custom event (a session an ``EVENT`` opened never is a bounce).
    """
    is_pageview = ev.type in PAGEVIEW_TYPES
    report(session, ev)
    if is_pageview:
        session.view_scroll = None  # a new view: not reported yet
        window_start = session.minute_started_at
        if window_start is None or ev.at >= window_start + MINUTE:
            session.minute_started_at, session.minute_pageviews = ev.at, 0
        session.minute_pageviews += 1
    if ev.at > session.last_seen_at:
        session.last_seen_at = ev.at
    session.duration_s = int((session.last_seen_at - session.started_at).total_seconds())
    if is_pageview:
        session.pageviews += 1
        session.exit_path = ev.path
    elif ev.type == EventType.PAGE_EXIT:
        session.has_exit = True
    session.is_bounce = session.is_bounce and ev.type == EventType.PAGE_EXIT


def drop_duplicate(ev: IncomingEvent, seen: set[int]) -> DropReason | None:
    """A retried beacon: its dedup key is already stored, or stored earlier in the batch."""
    if ev.dedup_key is not None and ev.dedup_key in seen:
        return DropReason.DUPLICATE
    return None


def drop_exit_without_session(ev: IncomingEvent, session: OpenSession | None) -> DropReason | None:
    """A ``PAGE_EXIT`` that continues no session: an exit cannot start a visit."""
    if session is None and ev.type == EventType.PAGE_EXIT:
        return DropReason.EXIT_WITHOUT_SESSION
    return None


def drop_over_minute_cap(ev: IncomingEvent, session: OpenSession, cap: int) -> DropReason | None:
    """A page view beyond ``cap`` (0: no cap) in ``session``'s current one-minute window.
    A window opens at a page view; the first page view a minute or more later opens the next."""
    if not cap or ev.type not in PAGEVIEW_TYPES:
        return None
    window_start = session.minute_started_at
    if window_start is None or ev.at >= window_start + MINUTE:
        return None  # a new window, empty so far
    return DropReason.RATE_LIMITED if session.minute_pageviews >= cap else None


@dataclass(slots=True)
class Assignment:
    """A batch's decisions. ``outcomes``: per event, in the order given, its session or why
    it is dropped. ``stored`` and ``dropped`` hold the same decisions in time order (the
    order events are applied, inserted and counted in); ``new_sessions`` were started by
    the batch (``pk`` None), ``changed`` are the loaded sessions it continued, by id."""

    outcomes: list[OpenSession | DropReason] = field(default_factory=list)
    stored: list[tuple[IncomingEvent, OpenSession]] = field(default_factory=list)
    dropped: list[tuple[IncomingEvent, DropReason]] = field(default_factory=list)
    new_sessions: list[OpenSession] = field(default_factory=list)
    changed: dict[int, OpenSession] = field(default_factory=dict)


def assign(
    events: Sequence[IncomingEvent],
    *,
    stored_keys: set[int],
    latest: dict[SessionKey, OpenSession],
    idle: dt.timedelta,
    cap: int,
) -> Assignment:
    """Decide every event of a batch, applied in time order (ties in the order given).

    ``stored_keys``: the batch's dedup keys already stored. ``latest``: each visitor id's
    latest session that could continue (``latest_by_visitor``); its sessions are updated
    in place, as the batch leaves them. ``idle``: the gap that ends a session. ``cap``:
    the most page views per session and minute (0: no cap).

    Each event meets the ``drop_*`` rules in order; the first reason drops it. A kept
    event continues its session (``extend``) or starts one (``start``).
    """
    batch = Assignment()
    seen = set(stored_keys)  # grows with the keys this batch stores
    sessions = dict(latest)  # grows with the sessions this batch starts
    outcomes: dict[int, OpenSession | DropReason] = {}
    for i in sorted(range(len(events)), key=lambda i: events[i].at):
        ev = events[i]
        session = None
        reason = drop_duplicate(ev, seen)
        if reason is None:
            session = continuing(sessions, ev, idle)
            reason = drop_exit_without_session(ev, session)
        if reason is None and session is not None:
            reason = drop_over_minute_cap(ev, session, cap)
        if reason is not None:
            outcomes[i] = reason
            batch.dropped.append((ev, reason))
            continue
        if session is None:
            report(None, ev)
            session = start(ev)
            sessions[(ev.website_id, ev.visitor_id)] = session
            batch.new_sessions.append(session)
        else:
            extend(session, ev)
            if session.pk is not None:
                batch.changed[session.pk] = session
        if ev.dedup_key is not None:
            seen.add(ev.dedup_key)
        outcomes[i] = session
        batch.stored.append((ev, session))
    batch.outcomes = [outcomes[i] for i in range(len(events))]
    return batch
