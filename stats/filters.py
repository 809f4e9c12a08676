"""``Filters``: dashboard filters from the query string, validated.

Session filters (entry/exit page, source, UTM, browser, OS, device) keep the sessions with
that value and the page views of those sessions. The page filter keeps the page views of
that path and the sessions that viewed it. ``(none)`` selects the empty value (direct
traffic, no UTM tag).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

NONE_TOKEN = "(none)"
MAX_FILTER_CHARS = 2048

# Query-string name -> Session field (``page`` is special: it filters events by path).
SESSION_FILTERS = {
    "entry_page": "entry_path",
    "exit_page": "exit_path",
    "source": "source",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "browser": "browser",
    "os": "os",
    "device": "device",
}


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    page: str | None = None
    entry_page: str | None = None
    exit_page: str | None = None
    source: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    browser: str | None = None
    os: str | None = None
    device: str | None = None

    @classmethod
    def from_query(cls, params: object) -> Filters:
        get = params.get  # type: ignore[attr-defined]
        values: dict[str, str] = {}
        for f in fields(cls):
            raw = get(f.name)
            if raw is None or raw == "":
                continue
            if not isinstance(raw, str) or len(raw) > MAX_FILTER_CHARS or "\x00" in raw:
                raise FilterError(f"filter {f.name} is too long or not text")
            values[f.name] = "" if raw == NONE_TOKEN else raw
        return cls(**values)

    def active(self) -> dict[str, str]:
        """The filters in use, in a stable order (for cache keys and chips)."""
        return {k: v for k in _NAMES if (v := getattr(self, k)) is not None}

    def session_filters(self) -> dict[str, str]:
        return {SESSION_FILTERS[k]: v for k, v in self.active().items() if k in SESSION_FILTERS}

    def as_query(self) -> dict[str, str]:
        return {k: (NONE_TOKEN if v == "" else v) for k, v in self.active().items()}

    def __bool__(self) -> bool:
        return bool(self.active())


_NAMES = tuple(f.name for f in fields(Filters))
NO_FILTERS = Filters()
