"""The stats API's OpenAPI document: the hand-written parts live in ``openapi.json``; the
filter parameters, the breakdown names and the stats JSON's lists come from the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stats.dimensions import PUBLIC, Describes, Dimension
from stats.filters import MAX_FILTER_CHARS
from stats.filters import NAMES as FILTER_NAMES
from stats.intervals import INTERVALS

BASE = Path(__file__).with_name("openapi.json")
# The sites API's paths, schemas and responses (``api.sites``), added to the stats API's.
SITES = Path(__file__).with_name("openapi_sites.json")
# Breakdowns beside the registry's (``api.views``): goal conversions and custom events.
CONVERSION_BREAKDOWNS = ("goals", "events")
BREAKDOWN_PATH = "/api/v1/breakdown/{dimension}"
TIMESERIES_PATH = "/api/v1/timeseries"
# Realtime's minutes, then what other periods may ask for (``stats.intervals``).
TIMESERIES_INTERVALS = ["minute", *INTERVALS]


_CONVERSION_FILTERS = {
    "goal": "Filter: only the visits that converted on the goal with this display name.",
    "prop": (
        "Filter: only the visits that sent a custom event with this property, as "
        "`KEY=VALUE` (split at the first `=`)."
    ),
}


def _filter_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": _CONVERSION_FILTERS.get(
            name,
            f"Filter by {name.replace('_', ' ')}: a value, or several separated by `|` (any "
            "of them); `!` first for none of them, `~` first for containing one of the texts "
            "(ignoring case); `(none)` selects the empty value; `\\` escapes `|`, `!`, `~`.",
        ),
        "schema": {"type": "string", "maxLength": MAX_FILTER_CHARS},
    }


def _rows(dimension: Dimension) -> dict[str, Any]:
    row = "PageRow" if dimension.describes == Describes.EVENTS else "SessionRow"
    return {"type": "array", "items": {"$ref": f"#/components/schemas/{row}"}}


def document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(BASE.read_text())
    filters = [_filter_parameter(name) for name in FILTER_NAMES]
    for operation in (item["get"] for item in doc["paths"].values()):
        params = operation["parameters"]
        at = next(i for i, p in enumerate(params) if p["name"] == "to") + 1
        operation["parameters"] = params[:at] + filters + params[at:]
    dimension = next(
        p for p in doc["paths"][BREAKDOWN_PATH]["get"]["parameters"] if p["name"] == "dimension"
    )
    dimension["schema"]["enum"] = [*(d.breakdown for d in PUBLIC), *CONVERSION_BREAKDOWNS]
    interval = next(
        p for p in doc["paths"][TIMESERIES_PATH]["get"]["parameters"] if p["name"] == "interval"
    )
    interval["schema"]["enum"] = TIMESERIES_INTERVALS
    doc["components"]["schemas"]["Timeseries"]["properties"]["granularity"]["enum"] = (
        TIMESERIES_INTERVALS
    )
    stats = doc["components"]["schemas"]["Stats"]
    stats["properties"].update({d.breakdown: _rows(d) for d in PUBLIC})
    stats["required"] += [d.breakdown for d in PUBLIC]
    _add_sites(doc)
    return doc


def _add_sites(doc: dict[str, Any]) -> None:
    sites: dict[str, Any] = json.loads(SITES.read_text())
    doc["info"]["title"] = "Simple Analytics API"
    doc["info"]["description"] += " " + sites["info_description"]
    doc["paths"].update(sites["paths"])
    components = doc["components"]
    components["schemas"].update(sites["schemas"])
    components.setdefault("responses", {}).update(sites["responses"])
    components["securitySchemes"]["bearer"]["description"] = sites["bearer_description"]
