"""``write_events()``: the only code that inserts Event rows.

One transaction per batch (``statements.for_connection().batch()``): lock the batch's
visitors and load what the session rules need (the stored dedup keys, the visitors' latest
sessions), let ``sessions.assign`` decide each event, then write the new and continued
sessions, the events and every drop count, and commit. Live events reach
it through ``groupcommit``, imported ones a chunk at a time through ``importer``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError

from tracking import sessions, statements
from tracking.pipeline import IncomingEvent
from tracking.sessions import OpenSession
from tracking.statements import DropKey as DropKey  # part of this module's interface


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
    view or a custom event (``EVENT``, a session of no page views) starts a new session
    and a ``PAGE_EXIT`` is dropped (``EXIT_WITHOUT_SESSION``). A session is a bounce with
    exactly one page view and no ``EVENT``; an update never makes one a bounce again.
    A page view beyond ``INGEST_SESSION_PAGEVIEWS_PER_MINUTE`` in its session's current
    one-minute window is dropped (``RATE_LIMITED``); the rules are ``tracking.sessions``.
    ``drops`` are other dropped events to count in the same transaction; every drop is
    counted. Returns what was stored, with ``stored_flags`` in the order of ``events``.

    Two copies of one client event sent from two visitor ids (the IP changed between the
    attempts) and written at once by two processes are not ordered by the per-visitor
    lock: both find no stored copy and the unique index refuses the later insert once the
    other commits. Everything rolls back and the one retry drops this copy as a duplicate;
    any other integrity error fails again and is raised. A batch that finds its
    connection's prepared statements gone is retried once the same way.
    """
    try:
        return _write_events(events, drops)
    except (IntegrityError, statements.PreparedStatementsLost):
        return _write_events(events, drops)


def _write_events(
    events: Sequence[IncomingEvent], extra_drops: Counter[DropKey] | None
) -> WriteResult:
    drops: Counter[DropKey] = Counter(extra_drops or {})
    idle = dt.timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    cap = settings.INGEST_SESSION_PAGEVIEWS_PER_MINUTE
    run = statements.for_connection()
    with run.batch() as io:
        found = statements.Found()
        if events:
            # The dedup keys are read after the lock: a copy of the same event from the
            # same visitor, committed by another process while we waited, is then seen.
            found = io.read(
                lock=[e.visitor_id for e in events],
                keys={e.dedup_key for e in events if e.dedup_key is not None},
                visitors={e.visitor_id for e in events} | {e.previous_visitor_id for e in events},
                since=min(e.at for e in events) - idle,
                starts=len(events),
            )
        latest = sessions.latest_by_visitor(found.sessions)
        batch = sessions.assign(
            events, stored_keys=found.stored_keys, latest=latest, idle=idle, cap=cap
        )
        dropped_by_reason: Counter[str] = Counter()
        for ev, reason in batch.dropped:
            drops[(ev.website_id, ev.at.date(), reason)] += 1
            dropped_by_reason[reason] += 1
        io.write(batch.new_sessions, list(batch.changed.values()), batch.stored, drops)
    return WriteResult(
        stored=len(batch.stored),
        dropped=len(batch.dropped),
        website_ids={ev.website_id for ev, _ in batch.stored},
        stored_flags=[isinstance(outcome, OpenSession) for outcome in batch.outcomes],
        dropped_by_reason=dropped_by_reason,
    )
