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
        st.sampled_from(TRICKY if surrogates else [t for t in TRICKY if not has_surrogate(t)]),
        st.text(max_size=8),
        *([st.characters(categories=["Cs"])] if surrogates else []),
    )
    return st.lists(pieces, max_size=max_size // 3 + 1).map("".join).map(lambda s: s[:max_size])


def has_surrogate(value: str) -> bool:
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


# Numbers no client should send, each of which some parser takes: non-ASCII digits that
# isdigit() accepts and int() refuses (superscript, circled), decimal digits of other
# scripts that int() accepts (Arabic-Indic, full-width), and forms int() or float() read.
HOSTILE_DIGITS = ["²", "①", "٣", "１", "1e3", "-1", " 1", "1 ", "+1", "1_0", "0x1", "1.0", "٣٠"]


def hostile_dates(day: str = "2026-01-05") -> list[str]:
    """``day`` with one of its digits, or all of them, written in a hostile way."""
    out = [
        day.replace("0", "٠"),
        day.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ]
    for digit in ("²", "①", "٣", "１"):
        out.append(day[:-1] + digit)
    return out


# Domains Python's IDNA codec refuses: an empty label, a label over 63 bytes once encoded,
# an ACE prefix on a non-ASCII label, a lone surrogate (from undecodable argv bytes).
IDNA_INVALID_DOMAINS = [
    "ä..com",
    "ä" * 70 + ".com",
    "ä" * 70,
    "xn--ä.com",
    "https://xn--ä.com/path",
    "ä.\udcff.com",
    "www.ä..com",
    ".ä.com",
]


def domains(*, surrogates: bool = True) -> st.SearchStrategy[str]:
    """What people (and attackers) type as a website's domain: labels of letters, IDNA
    edge cases and tricky pieces, joined by dots (ASCII and the ideographic one). Without
    ``surrogates`` for forms: browsers cannot send lone surrogates, argv can."""
    label = st.one_of(
        st.sampled_from(
            ["example", "ä", "ä" * 63, "ä" * 70, "xn--", "xn--ä", "ß", "\u200d", "א", "١", "-", ""]
        ),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
        text(12, surrogates=surrogates),
    )
    dot = st.sampled_from([".", ".", ".", "。", ".."])
    joined = st.lists(st.tuples(label, dot), min_size=1, max_size=4).map(
        lambda parts: "".join(a + b for a, b in parts) + "com"
    )
    invalid = [d for d in IDNA_INVALID_DOMAINS if surrogates or not has_surrogate(d)]
    return st.one_of(joined, st.sampled_from(invalid), text(40, surrogates=surrogates))
