"""Which events count for a goal or a property value, as filters on ``Event`` querysets:
what the goal and property rows count (``stats.conversions``) and what the ``goal`` and
``prop`` filters keep (visits with at least one such event, ``stats.raw``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, TextField, Value
from django.db.models.sql.compiler import SQLCompiler

from goals import matching
from goals.models import Goal, GoalKind
from tracking.models import PAGEVIEW_TYPES, Event, EventType

if TYPE_CHECKING:
    from django.db.models.sql.compiler import _AsSqlType


def goal_events(qs: QuerySet[Event], goal: Goal) -> QuerySet[Event]:
    """The events of ``qs`` the goal matches (``Goal.matches`` in SQL)."""
    qs = qs.filter(_page_or_name(goal))
    if goal.kind == GoalKind.PAGE or not goal.prop_key:
        return qs
    return prop_events(qs, goal.prop_key, goal.prop_value)


def candidates(goals: Iterable[Goal]) -> Q:
    """Events that may count for one of ``goals``: exactly ``goal_events``, but an event
    goal's property, which ``Goal.matches`` checks on the rows fetched."""
    q = Q(pk__in=[])
    for goal in goals:
        q |= _page_or_name(goal)
    return q


def _page_or_name(goal: Goal) -> Q:
    """A page goal's page views, or an event goal's events by name (property apart)."""
    if goal.kind == GoalKind.PAGE:
        regex = matching.pattern_regex(goal.page_pattern)
        return Q(type__in=PAGEVIEW_TYPES, path__regex=regex)
    return Q(type=EventType.EVENT, name=goal.event_name)


class PropText(Func):
    """The text of one property of an event, for any key: Django's key transforms spell
    the key into a JSON path, which SQLite cannot address for every key (``a"b``)."""

    output_field = TextField()

    def __init__(self, key: str) -> None:
        super().__init__(F("props"), Value(key))

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> _AsSqlType:
        return self.as_sql(
            compiler, connection, template="(%(expressions)s)", arg_joiner=" ->> ", **extra
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra: Any
    ) -> _AsSqlType:
        # (SELECT j.value FROM json_each(props) AS j WHERE j.key = %s)
        return self.as_sql(
            compiler,
            connection,
            template="(SELECT j.value FROM json_each(%(expressions)s)",
            arg_joiner=") AS j WHERE j.key = ",
            **extra,
        )


def prop_events(qs: QuerySet[Event], key: str, value: str) -> QuerySet[Event]:
    """The custom events of ``qs`` sent with property ``key`` equal to ``value``."""
    return qs.alias(prop_match=PropText(key)).filter(type=EventType.EVENT, prop_match=value)


def split_prop(value: str) -> tuple[str, str]:
    """A ``prop`` filter's ``KEY=VALUE``, split at the first "=" (as ``goal add --prop``)."""
    key, _, prop_value = value.partition("=")
    return key, prop_value


def converted(website_id: int, goal_name: str | None, prop: str | None, session: str) -> Q:
    """Rows whose visit (the field ``session`` names: ``pk`` of a session, ``session_id``
    of an event) converted: a goal by display name, a ``KEY=VALUE`` property, or both."""
    q = Q()
    if goal_name is not None:
        goal = Goal.objects.filter(website_id=website_id, name=goal_name).first()
        if goal is None:
            return Q(pk__in=[])  # no such goal: no visit converted
        q &= Q(Exists(goal_events(Event.objects.filter(session_id=OuterRef(session)), goal)))
    if prop is not None:
        key, value = split_prop(prop)
        events = prop_events(Event.objects.filter(session_id=OuterRef(session)), key, value)
        q &= Q(Exists(events))
    return q
