"""Bulk import of NDJSON events through the same validation, pipeline and writer as live
ingestion. Each line is an ingestion body plus ``ts`` (ISO 8601, UTC), ``ip`` and
``user_agent``. Events are written in chunks (one transaction each), in time order within
a chunk; a file in time order gives exactly the sessions live ingestion would have built.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tracking import pipeline
from tracking.models import DropReason
from tracking.payload import InvalidPayload, from_dict
from tracking.writer import DropKey, write_events
from websites.selectors import tracked_site_get

CHUNK = 5000


@dataclass
class ImportReport:
    lines: int = 0
    stored: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[int, str]] = field(default_factory=list)
    website_ids: set[int] = field(default_factory=set)


def _timestamp(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise InvalidPayload("ts must be an ISO 8601 string")
    try:
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPayload("ts is not a valid ISO 8601 time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC)


def parse_line(line: str) -> tuple[pipeline.IncomingEvent | DropReason, int, dt.datetime]:
    """One NDJSON line -> (event or drop reason, website id, time); raises InvalidPayload."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise InvalidPayload("not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidPayload("not a JSON object")
    payload = from_dict(data)
    at = _timestamp(data.get("ts"))
    ip = data.get("ip") or ""
    user_agent = data.get("user_agent") or ""
    accept_language = data.get("accept_language") or ""
    if not all(isinstance(v, str) for v in (ip, user_agent, accept_language)):
        raise InvalidPayload("ip, user_agent and accept_language must be strings")
    site = tracked_site_get(payload.site)
    if site is None:
        raise InvalidPayload("unknown or inactive site id")
    event = pipeline.run(
        payload,
        site=site,
        ip=ip,
        user_agent=user_agent[:1024],
        at=at,
        accept_language=accept_language[:256],
    )
    return event, site.id, at


def import_lines(
    lines: Iterable[str],
    *,
    chunk_size: int = CHUNK,
    on_chunk: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import NDJSON lines; bad lines are reported with their line number and skipped."""
    report = ImportReport()
    chunk: list[pipeline.IncomingEvent] = []
    drops: Counter[DropKey] = Counter()

    def flush() -> None:
        result = write_events(chunk, drops=drops)
        report.stored += result.stored
        report.dropped.update(result.dropped_by_reason)
        report.website_ids |= result.website_ids
        if on_chunk:
            on_chunk(len(chunk))
        chunk.clear()
        drops.clear()

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.lines += 1
        try:
            event, website_id, at = parse_line(line)
        except InvalidPayload as exc:
            report.errors.append((number, exc.message))
            continue
        if isinstance(event, DropReason):
            drops[(website_id, at.date(), event)] += 1
            report.dropped[event] += 1
            continue
        chunk.append(event)
        if len(chunk) >= chunk_size:
            flush()
    if chunk or drops:
        flush()
    return report
