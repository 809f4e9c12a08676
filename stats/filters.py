"""``Filters``: dashboard filters from the query string, validated.

One filter per dimension of the registry (``stats.dimensions``), named by its ``name``,
and two that keep the visits that converted (``goal``, ``prop``; see ``CONVERSION_NAMES``).
A filter is a ``Condition``: an operator and one or more values, any of which may match:

- ``is`` (``source=Google``, ``source=Google|Bing``): the value is one of these;
- ``is not`` (``source=!Google|Bing``): the value is none of these;
- ``contains`` (``page=~blog|docs``): the value contains one of these texts, ignoring
  case; not for dimensions stored as codes (country, region, language).

``(none)`` selects the empty value (direct traffic, no UTM tag); ``\\`` escapes a ``|``, a
leading ``!`` or ``~``, and itself. Filters of different dimensions all apply (and).
Session filters (entry/exit page, source, UTM, browser, ...) keep the sessions whose value
matches and the page views of those sessions. Event filters (the page) keep the page views
whose value matches and the sessions that made one. ``goal`` and ``prop`` take one value.
"""

from __future__ import annotations

import enum
import functools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db.models import Q

from stats.dimensions import BY_NAME, DIMENSIONS, Describes

NONE_TOKEN = "(none)"
MAX_FILTER_CHARS = 2048
MAX_VALUES = 20
# Visits that converted: ``goal`` (a goal's display name) and ``prop`` (``KEY=VALUE``, a
# custom event's property). Not dimensions: they keep whole visits, read from raw data.
CONVERSION_NAMES = ("goal", "prop")
NAMES: tuple[str, ...] = (*(d.name for d in DIMENSIONS), *CONVERSION_NAMES)


class FilterError(ValueError):
    pass


class Op(enum.StrEnum):
    IS = "is"
    IS_NOT = "is not"
    CONTAINS = "contains"


_PREFIX = {Op.IS: "", Op.IS_NOT: "!", Op.CONTAINS: "~"}
_BY_PREFIX = {"!": Op.IS_NOT, "~": Op.CONTAINS}


@dataclass(frozen=True, slots=True)
class Condition:
    """An operator and its values ("" for none), any of which may match."""

    op: Op
    values: tuple[str, ...]

    def encode(self) -> str:
        """The query-string form: ``!`` or ``~`` first, values joined by ``|``."""
        parts = [
            NONE_TOKEN if v == "" else v.replace("\\", "\\\\").replace("|", "\\|")
            for v in self.values
        ]
        text = "|".join(parts)
        if self.op == Op.IS and text[:1] in _BY_PREFIX:
            text = "\\" + text
        return _PREFIX[self.op] + text

    def matches(self, value: str) -> bool:
        """Whether a stored value passes (the reference for the database's answer)."""
        if self.op == Op.CONTAINS:
            return any(v.casefold() in value.casefold() for v in self.values)
        return (value in self.values) == (self.op == Op.IS)

    def q(self, field: str) -> Q:
        if self.op == Op.CONTAINS:
            return functools.reduce(
                operator.or_, (Q(**{f"{field}__icontains": v}) for v in self.values)
            )
        inside = Q(**{f"{field}__in": self.values})
        return inside if self.op == Op.IS else ~inside


def parse(text: str) -> Condition:
    """A query-string value as a ``Condition`` (see the module docstring)."""
    op = _BY_PREFIX.get(text[:1], Op.IS)
    if op != Op.IS:
        text = text[1:]
    values: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "|":
            values.append("".join(current))
            current = []
        else:
            current.append(ch)
    values.append("".join(current))
    return Condition(op, tuple(dict.fromkeys("" if v == NONE_TOKEN else v for v in values)))


def _checked(name: str, condition: Condition) -> Condition:
    if not condition.values or len(condition.values) > MAX_VALUES:
        raise FilterError(f"filter {name} takes 1 to {MAX_VALUES} values")
    if name in CONVERSION_NAMES and (condition.op != Op.IS or len(condition.values) != 1):
        raise FilterError(f"filter {name} takes one value and the operator is")
    if condition.op == Op.CONTAINS:
        if "" in condition.values:
            raise FilterError(f"filter {name}: contains needs a text, not {NONE_TOKEN}")
        if name in CONVERSION_NAMES or BY_NAME[name].names is not None:
            raise FilterError(f"filter {name} is stored as a code: use is or is not")
    return condition


class Filters:
    """Immutable: dimension name -> ``Condition``, in registry order."""

    __slots__ = ("_items",)

    def __init__(self, **conditions: str | Condition | None) -> None:
        """Plain text is ``is`` that one value (``Filters(source="")``: direct traffic)."""
        unknown = set(conditions) - set(NAMES)
        if unknown:
            raise TypeError(f"unknown filter {sorted(unknown)[0]!r}")
        self._items: tuple[tuple[str, Condition], ...] = tuple(
            (name, _checked(name, Condition(Op.IS, (c,)) if isinstance(c, str) else c))
            for name in NAMES
            if (c := conditions.get(name)) is not None
        )

    @classmethod
    def from_query(cls, params: Mapping[str, object]) -> Filters:
        conditions: dict[str, str | Condition | None] = {}
        for name in NAMES:
            raw = params.get(name)
            if raw is None or raw == "":
                continue
            if not isinstance(raw, str) or len(raw) > MAX_FILTER_CHARS or "\x00" in raw:
                raise FilterError(f"filter {name} is too long or not text")
            conditions[name] = parse(raw)
        return cls(**conditions)

    def condition(self, name: str) -> Condition | None:
        return dict(self._items).get(name)

    def get(self, name: str) -> str | None:
        """The value of an ``is`` filter of one value (a goal, a row the dashboard marks)."""
        c = self.condition(name)
        return c.values[0] if c is not None and c.op == Op.IS and len(c.values) == 1 else None

    def selects(self, name: str, value: str) -> bool:
        """Whether ``name is value`` is part of the filters (a row marked as chosen)."""
        c = self.condition(name)
        return c is not None and c.op == Op.IS and value in c.values

    @property
    def page(self) -> str | None:
        return self.get("page")

    def active(self) -> dict[str, str]:
        """The filters in use as query-string values, in registry order (cache keys)."""
        return {name: c.encode() for name, c in self._items}

    def conditions(self) -> Iterable[tuple[str, Condition]]:
        return iter(self._items)

    @property
    def goal(self) -> str | None:
        return self.get("goal")

    @property
    def prop(self) -> str | None:
        return self.get("prop")

    def converted(self) -> bool:
        """Whether a ``goal`` or ``prop`` filter keeps only the visits that converted."""
        return self.goal is not None or self.prop is not None

    def _q(self, describes: Describes, prefix: str) -> Q | None:
        parts = [
            c.q(prefix + BY_NAME[name].field)
            for name, c in self._items
            if name in BY_NAME and BY_NAME[name].describes == describes
        ]
        return functools.reduce(operator.and_, parts) if parts else None

    def session_q(self, prefix: str = "") -> Q | None:
        """The session filters as one condition on Session fields (``prefix``: a relation)."""
        return self._q(Describes.SESSIONS, prefix)

    def event_q(self) -> Q | None:
        """The event filters as one condition on Event fields."""
        return self._q(Describes.EVENTS, "")

    def report_q(self, field: str) -> Q | None:
        """The event filters as one condition on ``field``, the path of the page view a
        report belongs to (every event dimension is the page's path)."""
        parts = [
            c.q(field)
            for name, c in self._items
            if name in BY_NAME and BY_NAME[name].describes == Describes.EVENTS
        ]
        return functools.reduce(operator.and_, parts) if parts else None

    def single_session_value(self) -> tuple[str, str] | None:
        """(dimension, value) when the filters are one session filter ``is`` one value:
        the case a snapshot's breakdown rows answer exactly."""
        if len(self._items) != 1:
            return None
        ((name, c),) = self._items
        if name not in BY_NAME or BY_NAME[name].describes != Describes.SESSIONS:
            return None
        return (name, c.values[0]) if c.op == Op.IS and len(c.values) == 1 else None

    def replace(self, **changes: str | Condition | None) -> Filters:
        """A copy with filters set (name -> value or condition) or removed (name -> None)."""
        return Filters(**{**dict(self._items), **changes})

    def as_query(self) -> dict[str, str]:
        return self.active()

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filters) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Filters({', '.join(f'{k}={c.encode()!r}' for k, c in self._items)})"


NO_FILTERS = Filters()
