"""The dimension registry: every breakdown and filter of the product, named once.

Filters, raw reads, snapshot rows, rollups, the planner, the dashboard panels, the API's
OpenAPI document, the stats JSON and the CSV export all take their lists from here.
Adding a dimension means one entry below, the model field that holds its value, a
migration, and its label.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from core.names import country_name, language_name, region_name


class Describes(enum.StrEnum):
    """What a dimension's rows count. Session rows: the sessions that started with that
    value, their visitors and their page views. Event rows: events by their own time."""

    SESSIONS = "sessions"
    EVENTS = "events"


@dataclass(frozen=True, slots=True)
class Dimension:
    # Singular: the query-string filter and ``SnapshotRow.dimension`` (stored: never rename).
    name: str
    # Plural: the list in the stats JSON, the API path, the CSV and the dashboard tab.
    breakdown: str
    # The Session field (Event field for event dimensions) holding the value.
    field: str
    describes: Describes
    label: str  # filter chip and tooltip: "Entry page"
    title: str  # tab title: "Entry pages"
    column: str = ""  # column heading, when it differs from ``label``
    short_title: str = ""  # tab title on a phone, when it differs from ``title``
    panel: str = ""  # dashboard panel holding its tab ("": not shown on the dashboard)
    tab: int = 0  # position of its tab in the panel
    public: bool = True  # a list of the public stats JSON and API
    tagged_only: bool = False  # its breakdown leaves out "" (no campaign tag, no City file)
    empty_label: str = "(none)"  # how "" reads in a list or a chip
    capitalize: bool = False  # stored lower-case ("mobile"), shown capitalised
    empty_text: str = "No data in this period."
    names: Callable[[str], str] | None = None  # a stored code's display name ("DE" -> "Germany")
    every_row: bool = False  # the dashboard bundle keeps all its rows (the world map's)

    @property
    def heading(self) -> str:
        return self.column or self.label

    def display(self, value: str) -> str:
        """How a tracked value reads in a list or a chip (plain text, never markup)."""
        if value == "":
            return self.empty_label
        if self.names is not None:
            return self.names(value)
        return value.capitalize() if self.capitalize else value


S, E = Describes.SESSIONS, Describes.EVENTS

DIMENSIONS: tuple[Dimension, ...] = (
    Dimension(
        name="page",
        breakdown="pages",
        field="path",
        describes=E,
        label="Page",
        title="Top pages",
        panel="pages",
        tab=0,
    ),
    Dimension(
        name="entry_page",
        breakdown="entry_pages",
        field="entry_path",
        describes=S,
        label="Entry page",
        title="Entry pages",
        short_title="Entry",
        panel="pages",
        tab=1,
    ),
    Dimension(
        name="exit_page",
        breakdown="exit_pages",
        field="exit_path",
        describes=S,
        label="Exit page",
        title="Exit pages",
        short_title="Exit",
        panel="pages",
        tab=2,
    ),
    Dimension(
        name="source",
        breakdown="sources",
        field="source",
        describes=S,
        label="Source",
        title="Sources",
        empty_label="Direct / None",
        panel="sources",
        tab=0,
    ),
    Dimension(
        name="utm_source",
        breakdown="utm_sources",
        field="utm_source",
        describes=S,
        label="UTM source",
        title="UTM sources",
        tagged_only=True,
        panel="sources",
        tab=1,
        empty_text="No visits tagged with utm_source in this period.",
    ),
    Dimension(
        name="utm_medium",
        breakdown="utm_mediums",
        field="utm_medium",
        describes=S,
        label="UTM medium",
        title="UTM mediums",
        tagged_only=True,
    ),
    Dimension(
        name="utm_campaign",
        breakdown="utm_campaigns",
        field="utm_campaign",
        describes=S,
        label="UTM campaign",
        title="UTM campaigns",
        column="Campaign",
        short_title="Campaign",
        tagged_only=True,
        panel="sources",
        tab=2,
        empty_text="No visits tagged with utm_campaign in this period.",
    ),
    Dimension(
        name="utm_content",
        breakdown="utm_contents",
        field="utm_content",
        describes=S,
        label="UTM content",
        title="UTM contents",
        tagged_only=True,
    ),
    Dimension(
        name="utm_term",
        breakdown="utm_terms",
        field="utm_term",
        describes=S,
        label="UTM term",
        title="UTM terms",
        tagged_only=True,
    ),
    Dimension("browser", "browsers", "browser", S, "Browser", "Browsers", panel="devices", tab=1),
    Dimension(
        name="os",
        breakdown="os",
        field="os",
        describes=S,
        label="OS",
        title="Operating systems",
        column="Operating system",
        short_title="OS",
        panel="devices",
        tab=2,
    ),
    Dimension(
        name="device",
        breakdown="devices",
        field="device",
        describes=S,
        label="Device",
        title="Devices",
        capitalize=True,
        panel="devices",
        tab=0,
    ),
    Dimension(
        name="screen",
        breakdown="screens",
        field="screen_size",
        describes=S,
        label="Screen size",
        title="Screen sizes",
        short_title="Screen",
        capitalize=True,
        empty_label="Unknown",
        panel="devices",
        tab=3,
    ),
    Dimension(
        name="language",
        breakdown="languages",
        field="language",
        describes=S,
        label="Language",
        title="Languages",
        short_title="Lang.",
        empty_label="Unknown",
        names=language_name,
        panel="devices",
        tab=4,
    ),
    Dimension(
        name="country",
        breakdown="countries",
        field="country",
        describes=S,
        label="Country",
        title="Countries",
        empty_label="Unknown",
        names=country_name,
        panel="locations",
        tab=0,
        every_row=True,
    ),
    Dimension(
        name="region",
        breakdown="regions",
        field="region",
        describes=S,
        label="Region",
        title="Regions",
        empty_label="Unknown",
        names=region_name,
        panel="locations",
        tab=1,
        tagged_only=True,
        empty_text="No regions in this period. They come from a City database: see GEOIP_DATABASE.",
    ),
    Dimension(
        name="city",
        breakdown="cities",
        field="city",
        describes=S,
        label="City",
        title="Cities",
        empty_label="Unknown",
        panel="locations",
        tab=2,
        tagged_only=True,
        empty_text="No cities in this period. They come from a City database: see GEOIP_DATABASE.",
    ),
)

BY_NAME: dict[str, Dimension] = {d.name: d for d in DIMENSIONS}
BY_BREAKDOWN: dict[str, Dimension] = {d.breakdown: d for d in DIMENSIONS}
SESSION_DIMENSIONS: tuple[Dimension, ...] = tuple(d for d in DIMENSIONS if d.describes == S)
PUBLIC: tuple[Dimension, ...] = tuple(d for d in DIMENSIONS if d.public)
# Breakdown names, for ``breakdown()`` callers and the API's path enum.
BREAKDOWNS: tuple[str, ...] = tuple(BY_BREAKDOWN)
PUBLIC_BREAKDOWNS: tuple[str, ...] = tuple(d.breakdown for d in PUBLIC)


def by_breakdown(breakdown: str) -> Dimension:
    """The dimension of a breakdown name; ``ValueError`` for an unknown one."""
    try:
        return BY_BREAKDOWN[breakdown]
    except KeyError:
        raise ValueError(f"unknown dimension {breakdown!r}") from None
