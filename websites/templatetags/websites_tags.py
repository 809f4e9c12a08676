"""Small presentation helpers of the website pages: a server-rendered SVG sparkline."""

from __future__ import annotations

from collections.abc import Sequence

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

_WIDTH, _HEIGHT, _PAD = 140, 36, 3


def _points(values: Sequence[int]) -> list[tuple[float, float]]:
    top = max(values, default=0) or 1
    step = _WIDTH / max(len(values) - 1, 1)
    usable = _HEIGHT - 2 * _PAD
    return [
        (round(i * step, 1), round(_HEIGHT - _PAD - v / top * usable, 1))
        for i, v in enumerate(values)
    ]


@register.simple_tag
def sparkline(values: Sequence[int], label: str = "") -> SafeString:
    """An SVG line (with a soft area under it) of ``values``; no script, no inline style.

    It stretches to its box (``preserveAspectRatio="none"``) while the stroke keeps its
    width; colours come from the stylesheet (``.sparkline``).
    """
    values = list(values) or [0]
    if len(values) == 1:
        values = values * 2
    pts = _points(values)
    line = " ".join(f"{x},{y}" for x, y in pts)
    area = f"0,{_HEIGHT} {line} {_WIDTH},{_HEIGHT}"
    return format_html(
        '<svg class="sparkline{empty}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'preserveAspectRatio="none" role="img" aria-label="{label}"><title>{label}</title>'
        '<polygon class="sparkline-area" points="{area}"></polygon>'
        '<polyline class="sparkline-line" points="{line}" fill="none" '
        'vector-effect="non-scaling-stroke"></polyline></svg>',
        empty="" if any(values) else " is-empty",
        w=_WIDTH,
        h=_HEIGHT,
        label=label,
        area=area,
        line=line,
    )


@register.filter
def thousands(value: int | float | None) -> str:
    """``12345`` -> ``12,345``."""
    if value is None:
        return "–"
    return f"{value:,}"
