"""Hypothesis settings and strategies shared by the ``test_fuzz_*`` modules.

``FUZZ`` keeps the example counts moderate (the whole fuzz suite runs in well under a minute
per database); ``FUZZ_EXAMPLES=500`` in the environment digs deeper. No example database
is written into the work tree, and examples are not replayed across runs.

The strategies mix plain text with the characters that differ between databases and
decoders: NUL (PostgreSQL refuses it in text), lone surrogates (no UTF-8 encoding),
percent-escapes of both and of invalid UTF-8, direction overrides, line separators,
markup and spreadsheet formula starts.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # state is compared before/after each example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

TRICKY = [
    "\x00",
    "\ud800",
    "\udfff",
    "\udbff\udc00",
    "\u2028",
    "\ufeff",
    "\u202e",
    "\x7f",
    "\x1b",
    "%00",
    "%ff",
    "%fe%ff",
    "%ED%A0%80",
    "%C0%80",
    "%E2%80%AE",
    "%",
    "%%",
    "%2",
    "+",
    "&",
    "=",
    "<script>",
    '"',
    "'",
    "\\",
    "\r\n",
    "\t",
    "@",
    "-",
    "é",
    "𝄞",
    " ",
    "(none)",
    "..",
    "/",
    "?",
    "#",
    ";",
    ",",
]


def text(max_size: int = 30, *, surrogates: bool = True) -> st.SearchStrategy[str]:
    """Short strings built from tricky pieces and arbitrary characters."""
    pieces = st.one_of(
        st.sampled_from(TRICKY if surrogates else [t for t in TRICKY if not _has_surrogate(t)]),
        st.text(max_size=8),
        *([st.characters(categories=["Cs"])] if surrogates else []),
    )
    return st.lists(pieces, max_size=max_size // 3 + 1).map("".join).map(lambda s: s[:max_size])


def _has_surrogate(value: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def json_values(max_leaves: int = 6) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        text(),
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(text(10), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )


def encode_json(value: Any, how: str) -> bytes:
    """JSON bytes the way different clients might send them: ASCII with ``\\uXXXX`` escapes
    (lone surrogates stay escapes), raw UTF-8 with surrogates passed through (invalid
    UTF-8), Latin-1, or cut off in the middle."""
    if how == "ascii":
        return json.dumps(value, ensure_ascii=True).encode()
    raw = json.dumps(value, ensure_ascii=False)
    if how == "utf8":
        return raw.encode("utf-8", "surrogatepass")
    if how == "latin1":
        return raw.encode("latin-1", "replace")
    assert how == "cut"
    data = raw.encode("utf-8", "surrogatepass")
    return data[: max(1, len(data) * 2 // 3)]


ENCODINGS = st.sampled_from(["ascii", "ascii", "utf8", "latin1", "cut"])
