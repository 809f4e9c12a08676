"""Where a client address is, looked up in memory at ingestion; only the codes are kept.

By default the country comes from the registries' allocation data embedded in ``iptocc``
(no download, no account). With a MaxMind-format City database (``GEOIP_DATABASE``:
GeoLite2-City, DB-IP City Lite), the region (ISO 3166-2) and the city's English name too.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import iptocc
import maxminddb
from maxminddb.errors import InvalidDatabaseError

_MAPPED = "::ffff:"  # an IPv4 client on a dual-stack socket
_CITY_MAX = 128


class Place(NamedTuple):
    country: str = ""
    region: str = ""
    city: str = ""


NOWHERE = Place()


class GeoDatabaseError(Exception):
    """The configured database is missing or unreadable: an error at start, not per event."""


class Locator:
    def __init__(self, database: str = "") -> None:
        self.database = database
        self._reader: Any = None
        if database:
            try:
                self._reader = maxminddb.open_database(database)
                self._reader.get("127.0.0.1")  # a corrupt search tree fails here, not later
            except FileNotFoundError:
                raise GeoDatabaseError(f"GEOIP_DATABASE: no file {database}") from None
            except (InvalidDatabaseError, OSError, ValueError) as exc:
                raise GeoDatabaseError(
                    f"GEOIP_DATABASE: {database} is not a MaxMind-format database ({exc})"
                ) from None

    def locate(self, ip: str) -> Place:
        if ip.startswith(_MAPPED):
            ip = ip[len(_MAPPED) :]
        if self._reader is not None:
            try:
                record = self._reader.get(ip)
            except ValueError:  # not an address
                return NOWHERE
            if isinstance(record, dict):
                place = _from_record(record)
                if place.country:
                    return place
        return Place(iptocc.country_code(ip) or "")


def _from_record(record: dict[str, Any]) -> Place:
    """GeoIP2/GeoLite2 and DB-IP records share these fields."""
    country = _iso(record.get("country"))
    if not country:
        return NOWHERE
    region = ""
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions:
        code = _iso(subdivisions[0])
        region = f"{country}-{code}" if code else ""
    city = ""
    names = record.get("city", {}).get("names") if isinstance(record.get("city"), dict) else None
    if isinstance(names, dict):
        city = str(names.get("en", ""))[:_CITY_MAX]
    return Place(country, region, city)


def _iso(part: object) -> str:
    if isinstance(part, dict):
        code = part.get("iso_code")
        if isinstance(code, str) and 0 < len(code) <= 3 and code.isalnum():
            return code.upper()
    return ""


@functools.cache
def locator(database: str) -> Locator:
    """One locator per database path and process (the reader maps the file once)."""
    return Locator(database)
