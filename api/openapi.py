"""The stats API's OpenAPI document: the hand-written parts live in ``openapi.json``; the
filter parameters, the breakdown names and the stats JSON's lists come from the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stats.dimensions import PUBLIC, Describes, Dimension
from stats.filters import MAX_FILTER_CHARS
from stats.filters import NAMES as FILTER_NAMES

BASE = Path(__file__).with_name("openapi.json")
# Breakdowns beside the registry's (``api.views``): goal conversions and custom events.
CONVERSION_BREAKDOWNS = ("goals", "events")
BREAKDOWN_PATH = "/api/v1/breakdown/{dimension}"


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
            f"Filter: only {name.replace('_', ' ')} equal to this value; "
            "`(none)` selects the empty value.",
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
    stats = doc["components"]["schemas"]["Stats"]
    stats["properties"].update({d.breakdown: _rows(d) for d in PUBLIC})
    stats["required"] += [d.breakdown for d in PUBLIC]
    return doc
