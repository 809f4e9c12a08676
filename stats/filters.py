"""``Filters``: dashboard filters from the query string, validated.

One filter per dimension of the registry (``stats.dimensions``), named by its ``name``,
and two that keep the visits that converted (``goal``, ``prop``; see ``CONVERSION_NAMES``).
Session filters (entry/exit page, source, UTM, browser, OS, device) keep the sessions with
that value and the page views of those sessions. Event filters (the page) keep the page
views with that value and the sessions that made one. ``(none)`` selects the empty value
(direct traffic, no UTM tag).
"""

from __future__ import annotations

from collections.abc import Mapping

from stats.dimensions import BY_NAME, DIMENSIONS, Describes

NONE_TOKEN = "(none)"
MAX_FILTER_CHARS = 2048
# Visits that converted: ``goal`` (a goal's display name) and ``prop`` (``KEY=VALUE``, a
# custom event's property). Not dimensions: they keep whole visits, read from raw data.
CONVERSION_NAMES = ("goal", "prop")
NAMES: tuple[str, ...] = (*(d.name for d in DIMENSIONS), *CONVERSION_NAMES)


class FilterError(ValueError):
    pass


class Filters:
    """Immutable: dimension name -> value ("" for none), in registry order."""

    __slots__ = ("_items",)

    def __init__(self, **values: str | None) -> None:
        unknown = set(values) - set(NAMES)
        if unknown:
            raise TypeError(f"unknown filter {sorted(unknown)[0]!r}")
        self._items: tuple[tuple[str, str], ...] = tuple(
            (name, v) for name in NAMES if (v := values.get(name)) is not None
        )

    @classmethod
    def from_query(cls, params: Mapping[str, object]) -> Filters:
        values: dict[str, str | None] = {}
        for name in NAMES:
            raw = params.get(name)
            if raw is None or raw == "":
                continue
            if not isinstance(raw, str) or len(raw) > MAX_FILTER_CHARS or "\x00" in raw:
                raise FilterError(f"filter {name} is too long or not text")
            values[name] = "" if raw == NONE_TOKEN else raw
        return cls(**values)

    def get(self, name: str) -> str | None:
        return dict(self._items).get(name)

    @property
    def page(self) -> str | None:
        return self.get("page")

    def active(self) -> dict[str, str]:
        """The filters in use, in registry order (for cache keys and chips)."""
        return dict(self._items)

    def _fields(self, describes: Describes) -> dict[str, str]:
        return {
            BY_NAME[k].field: v
            for k, v in self._items
            if k in BY_NAME and BY_NAME[k].describes == describes
        }

    @property
    def goal(self) -> str | None:
        return self.get("goal")

    @property
    def prop(self) -> str | None:
        return self.get("prop")

    def converted(self) -> bool:
        """Whether a ``goal`` or ``prop`` filter keeps only the visits that converted."""
        return self.goal is not None or self.prop is not None

    def session_filters(self) -> dict[str, str]:
        """Session field -> value of the session filters in use."""
        return self._fields(Describes.SESSIONS)

    def event_filters(self) -> dict[str, str]:
        """Event field -> value of the event filters in use."""
        return self._fields(Describes.EVENTS)

    def replace(self, **changes: str | None) -> Filters:
        """A copy with filters set (name -> value) or removed (name -> None)."""
        return Filters(**{**self.active(), **changes})

    def as_query(self) -> dict[str, str]:
        return {k: (NONE_TOKEN if v == "" else v) for k, v in self._items}

    def __bool__(self) -> bool:
        return bool(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filters) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Filters({', '.join(f'{k}={v!r}' for k, v in self._items)})"


NO_FILTERS = Filters()
