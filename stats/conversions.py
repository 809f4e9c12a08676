"""Custom events, their properties, goals and funnels, computed from raw data for a half-open
UTC range ``[start, end)``: the reference implementation the rollups store and the planner
falls back to, like ``stats.raw`` for page views and sessions.

Every result maps a value to ``[events, visitors]``, added across ranges; visitors are
distinct per local day and summed, as everywhere (``stats.queries``). The values are:

- event rows: the event name;
- property rows: ``prop_value(name, key, value)``;
- goal rows: the goal's id (names may change; deleted goals' rows are never asked for);
- funnel rows: ``funnel_step(funnel id, k)`` -> ``[visits, 0]``, the sessions *started* in
  the range that reached steps 1..k in order within the visit (a session's events after
  the range end count: a visit belongs to the bucket it started in).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate

from goals.models import Funnel, Goal
from stats import converted, raw
from stats.filters import Filters
from tracking.models import Event, EventType

# Stored dimension names of the rows above (``SnapshotRow.dimension``).
EVENT = "event"
PROP = "prop"
GOAL = "goal"
FUNNEL = "funnel"
FUNNEL_CHUNK = 1000  # visits whose events one query of ``funnel_rows`` reads


def prop_value(name: str, key: str, value: str) -> str:
    """One stored value for (event name, property key, property value); unambiguous because
    the name and key are length-prefixed."""
    return f"{len(name)}:{name}{len(key)}:{key}{value}"


def split_prop_value(stored: str) -> tuple[str, str, str]:
    """The (event name, key, value) of ``prop_value``."""
    parts = []
    rest = stored
    for _ in range(2):
        length, _, rest = rest.partition(":")
        n = int(length)
        parts.append(rest[:n])
        rest = rest[n:]
    return parts[0], parts[1], rest


def funnel_step(funnel_id: int, k: int) -> str:
    return f"{funnel_id}:{k}"


def _per_day(qs: QuerySet[Event], tz: ZoneInfo, *fields: str) -> Iterable[dict[str, Any]]:
    rows: Iterable[dict[str, Any]] = (
        qs.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values(*fields, "day")
        .annotate(n=Count("id"), v=Count("session__visitor_id", distinct=True))
    )
    return rows


def event_rows(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters, tz: ZoneInfo
) -> dict[str, list[int]]:
    """Event name -> [events, visitors]."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    qs = raw.events_qs(website_id, start, end, filters).filter(type=EventType.EVENT)
    for row in _per_day(qs, tz, "name"):
        acc = out[str(row["name"])]
        acc[0] += row["n"]
        acc[1] += row["v"]
    return dict(out)


def prop_rows(
    website_id: int, start: dt.datetime, end: dt.datetime, filters: Filters, tz: ZoneInfo
) -> dict[str, list[int]]:
    """``prop_value(name, key, value)`` -> [events, visitors]. Properties are read whole
    and counted here: one portable query on SQLite and PostgreSQL alike."""
    counts: dict[str, int] = defaultdict(int)
    visitors: dict[str, set[tuple[dt.date, int]]] = defaultdict(set)
    qs = raw.events_qs(website_id, start, end, filters).filter(
        type=EventType.EVENT, props__isnull=False
    )
    for name, props, day, visitor in (
        qs.annotate(day=TruncDate("created_at", tzinfo=tz))
        .values_list("name", "props", "day", "session__visitor_id")
        .iterator(chunk_size=2000)
    ):
        for key, value in (props or {}).items():
            stored = prop_value(name or "", key, str(value))
            counts[stored] += 1
            visitors[stored].add((day, visitor))
    return {k: [n, len(visitors[k])] for k, n in counts.items()}


def goal_rows(
    website_id: int,
    start: dt.datetime,
    end: dt.datetime,
    filters: Filters,
    tz: ZoneInfo,
    goals: Sequence[Goal],
) -> dict[str, list[int]]:
    """Goal id -> [matching events, converting visitors]; goals with none are left out."""
    out: dict[str, list[int]] = {}
    base = raw.events_qs(website_id, start, end, filters)
    for goal in goals:
        acc = [0, 0]
        for row in _per_day(converted.goal_events(base, goal), tz):
            acc[0] += row["n"]
            acc[1] += row["v"]
        if acc[0]:
            out[str(goal.id)] = acc
    return out


def funnel_rows(
    website_id: int,
    start: dt.datetime,
    end: dt.datetime,
    filters: Filters,
    funnels: Sequence[Funnel],
) -> dict[str, list[int]]:
    """``funnel_step(id, k)`` -> [visits reaching step k, 0], for k = 1..steps; a funnel
    with no visit at its first step is left out."""
    out: dict[str, list[int]] = {}
    if not funnels:
        return out
    goals = [[step.goal for step in funnel.steps.all()] for funnel in funnels]
    # Only events some step may match: the others never move a visit on.
    candidates = converted.candidates({g.pk: g for steps in goals for g in steps}.values())
    # The visits' events by chunks of visit ids, each read whole: a cursor over one query
    # ordered by session is planned to walk the session index of the whole table.
    visit_ids = list(raw.sessions_qs(website_id, start, end, filters).values_list("pk", flat=True))
    # A visit's progress in each funnel: how many steps it has reached, in order.
    reached: dict[int, list[int]] = {}
    for i in range(0, len(visit_ids), FUNNEL_CHUNK):
        events = (
            Event.objects.filter(candidates, session_id__in=visit_ids[i : i + FUNNEL_CHUNK])
            .order_by("session_id", "created_at", "id")
            .values_list("session_id", "type", "path", "name", "props")
        )
        for session_id, type_, path, name, props in events:
            progress = reached.get(session_id)
            if progress is None:
                progress = reached[session_id] = [0] * len(funnels)
            for f, steps in enumerate(goals):
                k = progress[f]
                if k < len(steps) and steps[k].matches(type_, path, name, props):
                    progress[f] = k + 1
    for i, funnel in enumerate(funnels):
        visits = [0] * len(goals[i])
        for progress in reached.values():
            for k in range(progress[i]):
                visits[k] += 1
        if visits and visits[0]:
            for k, n in enumerate(visits, start=1):
                out[funnel_step(funnel.id, k)] = [n, 0]
    return out
