"""The Locations panel's world map: countries coloured by their visitors, each a filter link.

The shapes come from ``static/dashboard/world.svg`` (made once by
``scripts/make_world_map.py``: one ``<path id="c-DE">`` per ISO 3166-1 alpha-2 code) and
are read once per process. The page draws the map inline, so it needs no script and no
request of its own: the countries without visitors as one path, the others as links whose
class (``m1`` .. ``m5``) is their quantile among the countries with visitors.
"""

from __future__ import annotations

import bisect
import functools
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from django.utils.html import format_html
from django.utils.safestring import SafeString

from dashboard import formatting as fmt

ASSET = Path(__file__).resolve().parent / "static" / "dashboard" / "world.svg"
LEVELS = 5
_NS = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class Shape:
    code: str
    d: str  # SVG path data in view box units
    dot: bool  # a country too small for its shape, drawn as a dot


@dataclass(frozen=True)
class Atlas:
    view_box: str
    shapes: dict[str, Shape]  # by code, in drawing order (dots last)


@functools.cache
def atlas() -> Atlas:
    """The committed map, parsed once per process."""
    root = ET.parse(ASSET).getroot()
    shapes = {}
    for path in root.iter(f"{_NS}path"):
        code = path.get("id", "").removeprefix("c-")
        d = path.get("d", "")
        shapes[code] = Shape(code=code, d=d, dot=path.get("class") == "dot")
    return Atlas(view_box=root.get("viewBox", ""), shapes=shapes)


@dataclass(frozen=True)
class Country:
    code: str
    d: str
    dot: bool
    level: int  # 1 (fewest visitors) .. LEVELS
    url: str
    title: str  # "Germany: 1,234 visitors (43%)"
    active: bool


@dataclass(frozen=True)
class Step:
    level: int
    text: str  # the visitors of the countries at this level: "12–40"


@dataclass(frozen=True)
class WorldMap:
    view_box: str
    base: SafeString  # one path: every country without visitors
    countries: list[Country]  # the others, in drawing order
    legend: list[Step]


def levels(values: list[int], count: int = LEVELS) -> list[int]:
    """Each value's quantile level, 1..``count``: the share of values at or below it, in
    ``count`` steps. Equal values share a level; the largest is always ``count``."""
    ordered = sorted(values)
    n = len(ordered)
    return [math.ceil(count * bisect.bisect_right(ordered, v) / n) for v in values]


def build(
    visitors: Iterable[tuple[str, int]],
    *,
    total_visitors: int,
    name: Callable[[str], str],
    url: Callable[[str], str],
    active: str | None = None,
) -> WorldMap | None:
    """The map of ``visitors`` (country code, visitors); None when no country is known.

    ``total_visitors`` is the period's, for the share in each title; ``name`` and ``url``
    give a code's display name and its filter link. The unknown country ("") is no shape.
    """
    shapes = atlas().shapes
    counts = {code: n for code, n in visitors if code and n > 0}
    if not counts:
        return None
    # Dots last (a shape drawn later would hide them), otherwise most visitors first: the
    # order of the links for the keyboard.
    on_map = sorted(
        (c for c in counts if c in shapes), key=lambda c: (shapes[c].dot, -counts[c], c)
    )
    by_code = dict(zip(on_map, levels([counts[c] for c in on_map]), strict=True))
    countries = []
    for code in on_map:
        n = counts[code]
        share = fmt.percent(fmt.share(n, total_visitors))
        shape = shapes[code]
        countries.append(
            Country(
                code=code,
                d=shape.d,
                dot=shape.dot,
                level=by_code[code],
                url=url(code),
                title=f"{name(code)}: {n:,} visitor{'s' if n != 1 else ''} ({share})",
                active=code == active,
            )
        )
    legend = []
    for level in sorted(set(by_code.values())):
        values = [counts[c] for c, lv in by_code.items() if lv == level]
        low, high = fmt.number(min(values)), fmt.number(max(values))
        legend.append(Step(level=level, text=low if low == high else f"{low}–{high}"))
    return WorldMap(
        view_box=atlas().view_box,
        base=format_html(
            '<path d="{}"/>', "".join(s.d for c, s in shapes.items() if c not in counts)
        ),
        countries=countries,
        legend=legend,
    )
