"""How the dashboard writes numbers: counts, durations, rates and changes. Pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass


def number(value: int | float | None) -> str:
    """``1234`` -> ``1,234``; from 100,000 on, compact: ``123k``, ``1.2M``."""
    if value is None:
        return "—"
    value = round(value)
    if abs(value) < 100_000:
        return f"{value:,}"
    if abs(value) < 1_000_000:
        return f"{value / 1000:.0f}k"
    if abs(value) < 10_000_000:
        return f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    return f"{value / 1_000_000:.0f}M"


def compact(value: int | float) -> str:
    """Axis labels: ``950``, ``1.5k``, ``12k``, ``1.2M``."""
    value = float(value)
    for limit, suffix in ((1_000_000, "M"), (1000, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            text = f"{scaled:.1f}" if abs(scaled) < 10 else f"{scaled:.0f}"
            return text.removesuffix(".0") + suffix
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def duration(seconds: float | None) -> str:
    """``135`` -> ``2m 15s``; ``3725`` -> ``1h 2m``; ``None`` -> ``—``."""
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def percent(ratio: float | None) -> str:
    """``0.4321`` -> ``43%``; below 10 % one decimal (``4.5%``) so small shares differ."""
    if ratio is None:
        return "—"
    pct = ratio * 100
    if 0 < pct < 10:
        return f"{pct:.1f}%".replace(".0%", "%")
    return f"{pct:.0f}%"


def decimal(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Change:
    """A change against the previous period, ready to show: text, direction and tone."""

    text: str  # "↑ 12%", "↓ 3 pts", "0%", "—"
    direction: str  # "up", "down", "flat", "none"
    tone: str  # "good", "bad", "neutral"
    title: str  # spelled out for the tooltip


def change(
    current: float | None,
    previous: float | None,
    *,
    higher_is_better: bool = True,
    points: bool = False,
    previous_text: str = "",
) -> Change:
    """Relative change in percent, or the difference in percentage points (``points``).

    No previous value (``None``, or 0 for a relative change) means nothing to compare with.
    """
    if current is None or previous is None or (not points and previous == 0):
        return Change("—", "none", "neutral", "No data in the previous period to compare with")
    if points:
        delta = (current - previous) * 100
        shown = round(delta, 1)
        magnitude = f"{abs(shown):.1f}".removesuffix(".0") + " pts"
        unit = "percentage points"
        amount = f"{abs(shown):.1f}".removesuffix(".0")
    else:
        delta = (current - previous) / previous * 100
        shown = round(delta)
        if shown == 0 and delta != 0:
            shown = round(delta, 1)
        magnitude = f"{abs(shown):,}".removesuffix(".0") + "%"
        unit = "%"
        amount = f"{abs(shown):,}".removesuffix(".0")
    if shown == 0:
        direction, arrow = "flat", ""
    else:
        direction, arrow = ("up", "↑ ") if shown > 0 else ("down", "↓ ")
    if direction == "flat":
        tone = "neutral"
    else:
        tone = "good" if (direction == "up") == higher_is_better else "bad"
    verb = {"up": "up", "down": "down", "flat": "unchanged"}[direction]
    title = f"{verb} {amount} {unit}".replace(" %", "%") if direction != "flat" else verb
    if previous_text:
        title += f" against the previous period ({previous_text})"
    return Change(arrow + magnitude, direction, tone, title)


def share(part: int, whole: int) -> float:
    """Part of a whole, 0..1 (0 when the whole is 0); capped at 1 for bar widths."""
    return min(1.0, part / whole) if whole > 0 else 0.0


def bar_width(ratio: float) -> str:
    """An SVG width attribute for a share: at least a sliver when the share is not zero."""
    pct = ratio * 100
    if 0 < pct < 0.5:
        pct = 0.5
    return f"{math.floor(pct * 10) / 10:g}%"
