"""Which events a goal matches: page patterns as regular expressions, and the same rules
in Python (``goal_matches``) for code that holds events in memory.

A page pattern is a path where ``*`` stands for any characters but "/" (part or all of
one segment) and ``**`` for any characters at all; everything else is literal and the
whole path must match. ``pattern_regex`` turns a pattern into one regular expression that
PostgreSQL (``~``) and SQLite (Django's REGEXP, which is Python's ``re``) read alike.

The expression leaves a backtracking engine (Python's) little to backtrack into: a plain
translation (``.*a.*a.*b``) takes time of the path's length to the power of the number of
wildcards, minutes for one long path (docs/decisions.md, "Goal page patterns").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

# The event types of the ingestion contract (``tracking.models.EventType``), spelled here
# because goals may not import tracking; a test checks the two agree.
PAGEVIEW_TYPES = frozenset({"PAGE_VIEW", "PATH_CHANGE"})
EVENT_TYPE = "EVENT"

# Characters special outside brackets in Python's ``re`` or PostgreSQL's AREs; a backslash
# before any of them means the character itself in both.
_SPECIAL = frozenset("\\.^$|?*+()[]{}")
_STARS = re.compile(r"(\*+)")
_ONE = "*"
_ANY = "**"


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def tokens(pattern: str) -> list[str]:
    """Literals, ``*`` and ``**``, in order; a run of stars with ``**`` in it is ``**``
    (it matches what ``**`` alone does), so literals and wildcards alternate."""
    out = []
    for piece in _STARS.split(pattern):
        if piece.startswith("*"):
            out.append(_ANY if len(piece) > 1 else _ONE)
        elif piece:
            out.append(piece)
    return out


def _simple(parts: list[str], *, at_end: bool) -> str:
    """A stretch without ``**``. A literal after ``*`` is taken at its first occurrence
    in the segment (``(?:(?!L)[^/])*L``): what follows is ``*``, ``**`` or the end, so an
    earlier occurrence never matches less, and there is nothing to backtrack into."""
    out = []
    for i, part in enumerate(parts):
        if part == _ONE:
            if i == len(parts) - 1:
                out.append("[^/]*")
            continue
        literal = _escape(part)
        if i == 0:
            out.append(literal)
        elif at_end and i == len(parts) - 1:
            out.append(f"[^/]*{literal}")  # anchored at the end: one pass over the segment
        else:
            out.append(f"(?:(?!{literal})[^/])*{literal}")
    return "".join(out)


def pattern_regex(pattern: str) -> str:
    """The anchored regular expression of a page pattern, for ``path__regex`` on
    PostgreSQL and SQLite and for Python's ``re.search``.

    ``(?s)`` lets ``**`` match a newline too (PostgreSQL's default), and ``\\A``/``\\Z``
    anchor at the very start and end in both engines (Python's ``$`` would also match
    before a final newline). Lookaheads are never nested: PostgreSQL runs nested ones
    slowly. ``services.validate_page_pattern`` keeps ``*`` out of the stretches between
    two ``**`` for that reason.
    """
    stretches: list[list[str]] = [[]]
    for token in tokens(pattern):
        if token == _ANY:
            stretches.append([])
        else:
            stretches[-1].append(token)
    out = [r"(?s)\A", _simple(stretches[0], at_end=len(stretches) == 1)]
    for i, stretch in enumerate(stretches[1:], start=1):
        if i == len(stretches) - 1:
            out.append(".*" + _simple(stretch, at_end=True))
        elif len(stretch) == 1:
            # A literal between two ``**``: its first occurrence is as good as any later
            # one, so it is taken there, once (nothing to backtrack into).
            literal = _escape(stretch[0])
            out.append(f"(?:(?!{literal}).)*{literal}")
        else:
            out.append(".*" + _simple(stretch, at_end=False))
    out.append(r"\Z")
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern_regex(pattern))


def path_matches(pattern: str, path: str) -> bool:
    """Whether ``path`` matches the page pattern (the same answer as ``path__regex``)."""
    return _compiled(pattern).search(path) is not None


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
