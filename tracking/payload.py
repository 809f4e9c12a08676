"""Raw request -> validated, size-clamped ``Payload``, or ``InvalidPayload`` (a 4xx).

Nothing here touches the database: it only decides whether the body is acceptable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from tracking.models import EventType

_TYPES = frozenset(EventType.values)
MAX_SCREEN_PX = 100_000
MAX_ENGAGED_MS = 24 * 3600 * 1000  # a page open and visible for more than a day is not sane
MAX_SITE_CHARS = 64
# The client's event id: random, so a retried beacon can be recognised (pixel.js sends
# three random 32-bit numbers joined by "-"). At least 16 characters: counters such as "1",
# "2" would collide between visitors of one website and drop real events as duplicates.
CLIENT_ID = re.compile(r"[0-9A-Za-z._-]{16,64}")


class InvalidPayload(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Payload:
    site: str
    type: str
    url: str
    parsed_url: SplitResult
    referrer: str
    screen: int | None
    engaged_ms: int | None
    id: str | None = None


def read_body(meta: Mapping[str, str], read: Callable[[int], bytes]) -> bytes:
    """The request body, refusing more than INGEST_MAX_BODY_BYTES without reading it all.

    ``meta`` holds the CGI-style ``CONTENT_LENGTH``; ``read(n)`` reads at most n bytes.
    """
    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise InvalidPayload("invalid Content-Length") from None
    if declared > limit:
        raise InvalidPayload(f"body larger than {limit} bytes", status=413)
    body = read(limit + 1)
    if len(body) > limit:
        raise InvalidPayload(f"body larger than {limit} bytes", status=413)
    return body


def parse(body: bytes) -> Payload:
    if not body:
        raise InvalidPayload("empty body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPayload("body is not valid UTF-8") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidPayload("body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object")
    return from_dict(data)


def from_dict(data: dict[str, Any]) -> Payload:
    """Validate the fields of the ingestion contract; unknown extra fields are ignored.

    Ignored means never read: a body's ``ip`` or ``user_agent`` cannot stand in for the
    request's own (live ingestion takes both from the connection and its headers).
    """
    site = _string(data, "site", required=True, max_chars=MAX_SITE_CHARS)
    type_ = data.get("type")
    if not isinstance(type_, str) or type_ not in _TYPES:
        raise InvalidPayload(f"type must be one of {', '.join(sorted(_TYPES))}")
    url = _string(data, "url", required=True, max_chars=settings.INGEST_MAX_URL_CHARS)
    if "%00" in url:  # decoded into UTM values and sources; PostgreSQL cannot store NUL
        raise InvalidPayload("url contains an encoded NUL character")
    parsed = _http_url(url, "url")
    referrer = _string(data, "referrer", required=False, max_chars=settings.INGEST_MAX_URL_CHARS)
    return Payload(
        site=site,
        type=type_,
        url=url,
        parsed_url=parsed,
        referrer=referrer,
        screen=_int(data, "screen", MAX_SCREEN_PX),
        engaged_ms=_int(data, "engaged_ms", MAX_ENGAGED_MS),
        id=_client_id(data),
    )


def _client_id(data: dict[str, Any]) -> str | None:
    # Optional in the contract: copies of pixel.js from before event ids, import files and
    # other clients may send none; their events are stored without the duplicate check.
    value = data.get("id")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not CLIENT_ID.fullmatch(value):
        raise InvalidPayload("id must be 16 to 64 letters, digits, '.', '-' or '_'")
    return value


def _string(data: dict[str, Any], key: str, *, required: bool, max_chars: int) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise InvalidPayload(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidPayload(f"{key} must be a string")
    if len(value) > max_chars:
        raise InvalidPayload(f"{key} longer than {max_chars} characters")
    # NUL cannot be stored by PostgreSQL and lone surrogates cannot be encoded: refuse both
    # here so SQLite and PostgreSQL behave the same.
    if "\x00" in value:
        raise InvalidPayload(f"{key} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(f"{key} is not valid Unicode") from None
    return value


def _int(data: dict[str, Any], key: str, maximum: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    # bool is an int subclass in Python; true/false are not numbers here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPayload(f"{key} must be a number")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise InvalidPayload(f"{key} must be a finite number")
    # Range first, then truncate: -0.5 is out of range, not 0.
    if value < 0 or value > maximum:
        raise InvalidPayload(f"{key} must be between 0 and {maximum}")
    return int(value)


def _http_url(url: str, key: str) -> SplitResult:
    try:
        parsed = urlsplit(url)
        host = parsed.hostname
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidPayload(f"{key} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise InvalidPayload(f"{key} must be an absolute http(s) URL")
    return parsed
