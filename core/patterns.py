"""Path patterns as regular expressions: goals' page patterns and websites' excluded paths.

A pattern is a path where ``*`` stands for any characters but "/" (part or all of one
segment) and ``**`` for any characters at all; everything else is literal and the whole
path must match. ``pattern_regex`` turns a pattern into one regular expression that
PostgreSQL (``~``) and SQLite (Django's REGEXP, which is Python's ``re``) read alike.

The expression leaves a backtracking engine (Python's) little to backtrack into: a plain
translation (``.*a.*a.*b``) takes time of the path's length to the power of the number of
wildcards, minutes for one long path (docs/decisions.md, "Goal page patterns").
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# Characters special outside brackets in Python's ``re`` or PostgreSQL's AREs; a backslash
# before any of them means the character itself in both.
_SPECIAL = frozenset("\\.^$|?*+()[]{}")
_STARS = re.compile(r"(\*+)")
_ONE = "*"
_ANY = "**"
_DOTALL = "(?s)"


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


def star_between_anys(pattern: str) -> bool:
    """Whether a ``*`` stands between two ``**``: such a pattern can take seconds to match
    a long path, so validation refuses it."""
    found = tokens(pattern)
    anys = [i for i, token in enumerate(found) if token == _ANY]
    return len(anys) > 1 and _ONE in found[anys[0] : anys[-1]]


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
    """The anchored regular expression of a path pattern, for ``path__regex`` on
    PostgreSQL and SQLite and for Python's ``re.search``.

    ``(?s)`` lets ``**`` match a newline too (PostgreSQL's default), and ``\\A``/``\\Z``
    anchor at the very start and end in both engines (Python's ``$`` would also match
    before a final newline). Lookaheads are never nested: PostgreSQL runs nested ones
    slowly. Validation keeps ``*`` out of the stretches between two ``**`` for that
    reason (``star_between_anys``).
    """
    stretches: list[list[str]] = [[]]
    for token in tokens(pattern):
        if token == _ANY:
            stretches.append([])
        else:
            stretches[-1].append(token)
    out = [_DOTALL + r"\A", _simple(stretches[0], at_end=len(stretches) == 1)]
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


def patterns_regex(patterns: Iterable[str]) -> str:
    """One regular expression that matches a path when any of the patterns does; "" for
    no patterns. Each alternative is anchored at the start, so ``re.match`` tries each
    once at position 0."""
    # The flag may only open the whole expression: Python refuses it inside.
    alternatives = [pattern_regex(p).removeprefix(_DOTALL) for p in patterns]
    return _DOTALL + "|".join(alternatives) if alternatives else ""


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern_regex(pattern))


def path_matches(pattern: str, path: str) -> bool:
    """Whether ``path`` matches the pattern (the same answer as ``path__regex``)."""
    return _compiled(pattern).search(path) is not None
