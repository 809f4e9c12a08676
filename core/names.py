"""Display names for stored codes: countries (ISO 3166-1 alpha-2), regions (ISO 3166-2)
and languages (ISO 639-1), from pycountry's copy of the ISO tables."""

from __future__ import annotations

import functools

import pycountry

# Codes in use that ISO 3166-1 does not assign (the registries and Natural Earth use them).
_USER_ASSIGNED = {"XK": "Kosovo"}


@functools.cache
def _countries() -> dict[str, str]:
    found = {c.alpha_2: str(getattr(c, "common_name", c.name)) for c in pycountry.countries}
    return {**_USER_ASSIGNED, **found}


@functools.cache
def _regions() -> dict[str, str]:
    return {s.code: str(s.name) for s in pycountry.subdivisions}


@functools.cache
def _languages() -> dict[str, str]:
    return {x.alpha_2: str(x.name) for x in pycountry.languages if hasattr(x, "alpha_2")}


def country_name(code: str) -> str:
    """ "DE" -> "Germany"; an unknown code reads as itself."""
    return _countries().get(code, code)


def region_name(code: str) -> str:
    """ "DE-BY" -> "Bayern"; an unknown code reads as itself."""
    return _regions().get(code, code)


def language_name(code: str) -> str:
    """ "pt" -> "Portuguese"; an unknown code reads as itself."""
    return _languages().get(code, code)
