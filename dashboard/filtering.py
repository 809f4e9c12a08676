"""The "Filter" form: a dimension, an operator and values, added to the dashboard's filters.

The form is a plain GET (works without JavaScript) to ``views.add_filter``, which checks it
and redirects to the dashboard with the filter in its query-string form (``stats.filters``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from stats.dimensions import DIMENSIONS
from stats.filters import MAX_VALUES, NONE_TOKEN, Condition, FilterError, Filters, Op
from stats.periods import Period


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    codes: bool  # stored as codes: no "contains"


def form_context(period: Period, filters: Filters, view: Mapping[str, str]) -> dict[str, object]:
    """What ``_filter_form.html`` needs: the choices and the page's state to keep."""
    return {
        "dimensions": [Choice(d.name, d.label, d.names is not None) for d in DIMENSIONS],
        "ops": [(op.name.lower(), str(op)) for op in Op],
        "keep": {**period.as_query(), **filters.as_query(), **view},
        "max_values": MAX_VALUES,
        "none_token": NONE_TOKEN,
    }


def condition(name: str, op: str, text: str) -> Condition:
    """The form's dimension, operator and values (one per line) as a ``Condition``."""
    if name not in {d.name for d in DIMENSIONS}:
        raise FilterError("choose what to filter by")
    try:
        chosen = Op[op.upper()]
    except KeyError:
        raise FilterError("choose an operator: is, is not or contains") from None
    lines = [line.strip() for line in text.splitlines()]
    values = tuple(dict.fromkeys("" if v == NONE_TOKEN else v for v in lines if v))
    if not values:
        raise FilterError("enter at least one value")
    return Condition(chosen, values)
