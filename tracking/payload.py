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
MAX_SCROLL_PCT = 100
# The types that report on the page view they leave (engaged_ms, scroll_pct).
REPORTING_TYPES = frozenset({EventType.PATH_CHANGE.value, EventType.PAGE_EXIT.value})
MAX_SITE_CHARS = 64
# Custom events (type EVENT): the contract's limits on the name and the props.
MAX_NAME_CHARS = 120
MAX_PROPS = 30
MAX_PROP_KEY_CHARS = 300
MAX_PROP_VALUE_CHARS = 2000
# JSON has one number type: an integral float is stored as the integer (3.0 -> "3"), up to
# where JavaScript's own rendering switches to exponents.
_PLAIN_INTEGRAL_BELOW = 1e21
# The client's event id: random, so a retried beacon can be recognised (pixel.js sends
# two Math.random() numbers joined by "-"). At least 16 characters: counters such as "1",
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
    # Deepest scroll of the page view left, percent of the page's height.
    scroll_pct: int | None = None
    # EVENT only: the trimmed name, and the props with every value as text (None: none).
    name: str | None = None
    props: dict[str, str] | None = None
    # ``parsed_url.hostname``, which urllib recomputes on every access.
    host: str = ""


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
    parsed, host = _http_url(url, "url")
    referrer = _string(data, "referrer", required=False, max_chars=settings.INGEST_MAX_URL_CHARS)
    name, props = _custom_event(data, type_)
    return Payload(
        site=site,
        type=type_,
        url=url,
        parsed_url=parsed,
        referrer=referrer,
        screen=_int(data, "screen", MAX_SCREEN_PX),
        engaged_ms=_int(data, "engaged_ms", MAX_ENGAGED_MS),
        id=_client_id(data),
        scroll_pct=_scroll_pct(data, type_),
        name=name,
        props=props,
        host=host,
    )


def _custom_event(data: dict[str, Any], type_: str) -> tuple[str | None, dict[str, str] | None]:
    """(name, props) of an EVENT; both refused on the other types (a client mixing them up
    should hear so, not lose the fields)."""
    if type_ != EventType.EVENT:
        for key in ("name", "props"):
            if data.get(key) is not None:
                raise InvalidPayload(f"{key} is only accepted with type EVENT")
        return None, None
    value = data.get("name")
    if value is None:
        raise InvalidPayload("name is required with type EVENT")
    if not isinstance(value, str):
        raise InvalidPayload("name must be a string")
    name = _storable(value.strip(), "name")
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise InvalidPayload(f"name must be 1 to {MAX_NAME_CHARS} characters after trimming")
    return name, _props(data.get("props"))


def _props(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidPayload("props must be a JSON object")
    if len(value) > MAX_PROPS:
        raise InvalidPayload(f"props may hold at most {MAX_PROPS} entries")
    props: dict[str, str] = {}
    for key, item in value.items():
        key = _storable(key, "a props key")
        if not 1 <= len(key) <= MAX_PROP_KEY_CHARS:
            raise InvalidPayload(f"a props key must be 1 to {MAX_PROP_KEY_CHARS} characters")
        what = f"props value of {json.dumps(key[:40])}"
        text = _storable(_prop_text(item, what), what)
        if len(text) > MAX_PROP_VALUE_CHARS:
            raise InvalidPayload(f"{what} longer than {MAX_PROP_VALUE_CHARS} characters")
        props[key] = text
    return props or None


def _prop_text(value: Any, what: str) -> str:
    """A props value as stored: strings as they are, true/false, numbers as JSON has them."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidPayload(f"{what} must be a finite number")
        if value.is_integer() and abs(value) < _PLAIN_INTEGRAL_BELOW:
            return str(int(value))
        return repr(value)
    raise InvalidPayload(f"{what} must be a string, a number or a boolean")


def _storable(value: str, what: str) -> str:
    # NUL cannot be stored by PostgreSQL (not even in jsonb) and lone surrogates cannot
    # be encoded: refused here so SQLite and PostgreSQL behave the same.
    if "\x00" in value:
        raise InvalidPayload(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPayload(f"{what} is not valid Unicode") from None
    return value


def _scroll_pct(data: dict[str, Any], type_: str) -> int | None:
    """A whole percentage, 0 to 100, and only where a page view is left: a depth on any
    other event would be counted for no view."""
    value = data.get("scroll_pct")
    if value is None:
        return None
    if type_ not in REPORTING_TYPES:
        raise InvalidPayload("scroll_pct is only accepted with type PATH_CHANGE or PAGE_EXIT")
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value != value  # NaN
        or value not in range(MAX_SCROLL_PCT + 1)
    ):
        raise InvalidPayload(f"scroll_pct must be a whole number from 0 to {MAX_SCROLL_PCT}")
    return int(value)


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
    return _storable(value, key)


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


def _http_url(url: str, key: str) -> tuple[SplitResult, str]:
    """The parsed URL and its host."""
    try:
        parsed = urlsplit(url)
        host = parsed.hostname
        parsed.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise InvalidPayload(f"{key} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not host:
        raise InvalidPayload(f"{key} must be an absolute http(s) URL")
    return parsed, host
