"""Which events a goal matches: page patterns as regular expressions, and the same rules
in Python (``goal_matches``) for code that holds events in memory.

The pattern syntax and its regular expressions live in ``core.patterns`` (websites'
excluded paths use them too); they are re-exported here under their old names.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.patterns import path_matches, pattern_regex, star_between_anys, tokens

__all__ = [
    "EVENT_TYPE",
    "PAGEVIEW_TYPES",
    "goal_matches",
    "path_matches",
    "pattern_regex",
    "star_between_anys",
    "tokens",
]

# The event types of the ingestion contract (``tracking.models.EventType``), spelled here
# because goals may not import tracking; a test checks the two agree.
PAGEVIEW_TYPES = frozenset({"PAGE_VIEW", "PATH_CHANGE"})
EVENT_TYPE = "EVENT"


def goal_matches(
    *,
    kind: str,
    event_name: str,
    prop_key: str,
    prop_value: str,
    page_pattern: str,
    type: str,
    path: str,
    name: str | None,
    props: Mapping[str, str] | None,
) -> bool:
    """Whether an event (``type``, ``path``, ``name``, ``props`` as stored) counts for a
    goal: an event goal matches EVENT rows of its name (and property value, when set), a
    page goal matches page views whose path matches its pattern."""
    if kind == "page":
        return type in PAGEVIEW_TYPES and path_matches(page_pattern, path)
    if type != EVENT_TYPE or name != event_name:
        return False
    return not prop_key or (props is not None and props.get(prop_key) == prop_value)
