"""Hostile and malformed requests to ``POST /api/event``, and the passing side of each limit.

Every rejected request must be a 4xx with ``{"error": "<message>"}``, keep the CORS header
(browsers otherwise hide the answer from the page) and write nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from simple_analytics.testing import DESKTOP_UA, make_website
from tracking import payload as payload_mod
from tracking.models import DropCount, Event, Salt, Session
from websites.models import Website

pytestmark = pytest.mark.django_db

MAX_BODY = settings.INGEST_MAX_BODY_BYTES  # 8192
MAX_URL = settings.INGEST_MAX_URL_CHARS  # 2048
MISSING = object()  # an ``event()`` override that removes the key


def event(site: str, /, **fields: Any) -> dict[str, Any]:
    """A valid PAGE_VIEW body for ``site``; keyword arguments override (or remove) fields."""
    body: dict[str, Any] = {"site": site, "type": "PAGE_VIEW", "url": "https://example.com/pricing"}
    for key, value in fields.items():
        if value is MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def encode(body: dict | list | str | bytes) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body).encode("ascii")  # ensure_ascii: NUL and surrogates as \u escapes


def url_of_length(n: int) -> str:
    base = "https://example.com/"
    return base + "a" * (n - len(base))


def padded(site: str, size: int) -> bytes:
    """A valid body padded with trailing JSON whitespace to exactly ``size`` bytes."""
    data = encode(event(site))
    return data + b" " * (size - len(data))


def post(client: Client, data: bytes, *, method: str = "POST", **extra: Any):
    extra.setdefault("content_type", "text/plain")
    return client.generic(method, "/api/event", data, HTTP_USER_AGENT=DESKTOP_UA, **extra)


def deactivate(website: Website) -> None:
    Website.objects.filter(pk=website.pk).update(is_active=False)


def mixed_case_id(website: Website) -> None:
    # A random id may have no letters at all; this one surely differs from its swapcase().
    website.tracking_id = "MixedCase-Id"
    website.save(update_fields=["tracking_id"])


@dataclass(frozen=True)
class Case:
    id: str
    body: Callable[[str], dict | list | str | bytes]  # tracking id -> request body
    status: int = 400
    method: str = "POST"
    extra: dict[str, str] = field(default_factory=dict)
    prepare: Callable[[Website], None] | None = None


def raw(text: str) -> Callable[[str], str]:
    """A raw JSON text; ``SITE`` is replaced by the tracking id."""
    return lambda site: text.replace("SITE", site)


CASES = [
    # --- size -----------------------------------------------------------------------------
    Case("body-one-byte-over-limit", lambda s: padded(s, MAX_BODY + 1), 413),
    Case("body-1mib", lambda s: padded(s, 1024 * 1024), 413),
    Case(
        "content-length-declares-over-limit",
        lambda s: encode(event(s)),
        413,
        extra={"CONTENT_LENGTH": str(MAX_BODY + 1)},
    ),
    Case(
        "content-length-not-a-number",
        lambda s: encode(event(s)),
        400,
        extra={"CONTENT_LENGTH": "abc"},
    ),
    # --- not a JSON object ------------------------------------------------------------------
    Case("empty-body", lambda s: b""),
    Case("whitespace-only", lambda s: b"  \r\n\t "),
    Case("invalid-json", raw("this is not json")),
    Case("single-quoted-json", raw("{'site': 'SITE', 'type': 'PAGE_VIEW'}")),
    Case("trailing-comma", raw('{"site": "SITE", "type": "PAGE_VIEW", "url": "https://e.com/",}')),
    Case("truncated-json", lambda s: encode(event(s))[:-7]),
    Case("only-open-brace", raw("{")),
    Case("json-array", lambda s: [event(s)]),
    Case("json-empty-array", raw("[]")),
    Case("json-string", raw('"PAGE_VIEW"')),
    Case("json-number", raw("42")),
    Case("json-null", raw("null")),
    Case("json-true", raw("true")),
    Case("two-json-objects", lambda s: encode(event(s)) + encode(event(s))),
    Case("deep-nesting-100000-over-limit", raw("[" * 100_000), 413),
    Case("deep-nesting-4000-within-limit", raw("[" * 4000 + "]" * 4000)),
    Case("deep-nesting-in-a-field", raw('{"site": "SITE", "x": ' + "[" * 4000 + "]" * 4000 + "}")),
    Case("integer-with-5000-digits", raw('{"site": "SITE", "screen": ' + "1" * 5000 + "}")),
    Case("raw-control-char-in-string", lambda s: encode(event(s))[:-2] + b'\x00"}'),
    # --- not UTF-8 --------------------------------------------------------------------------
    Case("non-utf8-bytes", lambda s: b"\xff\xfe\xfd" + encode(event(s))),
    Case("utf16-with-bom", lambda s: json.dumps(event(s)).encode("utf-16")),
    Case("utf16-le-without-bom", lambda s: json.dumps(event(s)).encode("utf-16-le")),
    Case("utf32", lambda s: json.dumps(event(s)).encode("utf-32")),
    Case("latin1-byte-in-string", lambda s: encode(event(s))[:-2] + b'\xe9"}'),
    Case("overlong-utf8", lambda s: encode(event(s))[:-2] + b'\xc0\xaf"}'),
    Case("cesu8-surrogate-bytes", lambda s: encode(event(s))[:-2] + b'\xed\xa0\x80"}'),
    # --- site -------------------------------------------------------------------------------
    Case("site-missing", lambda s: event(s, site=MISSING)),
    Case("site-null", lambda s: event(s, site=None)),
    Case("site-empty", lambda s: event(s, site="")),
    Case("site-number", lambda s: event(s, site=123)),
    Case("site-boolean", lambda s: event(s, site=True)),
    Case("site-list", lambda s: event(s, site=[s])),
    Case("site-object", lambda s: event(s, site={"$ne": ""})),
    Case("site-too-long", lambda s: event(s, site="a" * 65)),
    Case("site-unknown", lambda s: event(s, site="AAAAAAAAAAAA")),
    Case("site-wrong-case", lambda s: event(s, site=s.swapcase()), prepare=mixed_case_id),
    Case("site-trailing-space", lambda s: event(s, site=s + " ")),
    Case("site-sql-wildcard", lambda s: event(s, site="%")),
    Case("site-nul", lambda s: event(s, site=s + "\x00")),
    Case(
        "site-lone-surrogate",
        raw('{"site": "SITE\\ud800", "type": "PAGE_VIEW", "url": "https://e.com/"}'),
    ),
    Case("site-inactive", lambda s: event(s), prepare=deactivate),
    # --- type -------------------------------------------------------------------------------
    Case("type-missing", lambda s: event(s, type=MISSING)),
    Case("type-null", lambda s: event(s, type=None)),
    Case("type-empty", lambda s: event(s, type="")),
    Case("type-unknown", lambda s: event(s, type="CLICK")),
    Case("type-lowercase", lambda s: event(s, type="page_view")),
    Case("type-padded", lambda s: event(s, type=" PAGE_VIEW")),
    Case("type-number", lambda s: event(s, type=1)),
    Case("type-boolean", lambda s: event(s, type=True)),
    Case("type-list", lambda s: event(s, type=["PAGE_VIEW"])),
    Case("type-object", lambda s: event(s, type={"PAGE_VIEW": 1})),
    # --- url --------------------------------------------------------------------------------
    Case("url-missing", lambda s: event(s, url=MISSING)),
    Case("url-null", lambda s: event(s, url=None)),
    Case("url-empty", lambda s: event(s, url="")),
    Case("url-number", lambda s: event(s, url=42)),
    Case("url-list", lambda s: event(s, url=["https://example.com/"])),
    Case("url-object", lambda s: event(s, url={"href": "https://example.com/"})),
    Case("url-relative", lambda s: event(s, url="/path")),
    Case("url-without-scheme", lambda s: event(s, url="example.com/path")),
    Case("url-protocol-relative", lambda s: event(s, url="//example.com/path")),
    Case("url-javascript", lambda s: event(s, url="javascript:alert(document.cookie)")),
    Case("url-ftp", lambda s: event(s, url="ftp://example.com/file")),
    Case("url-data", lambda s: event(s, url="data:text/html,<script>alert(1)</script>")),
    Case("url-file", lambda s: event(s, url="file:///etc/passwd")),
    Case("url-without-host", lambda s: event(s, url="https://")),
    Case("url-port-only", lambda s: event(s, url="https://:443/")),
    Case("url-port-out-of-range", lambda s: event(s, url="https://example.com:99999/")),
    Case("url-port-not-a-number", lambda s: event(s, url="https://example.com:http/")),
    Case("url-broken-ipv6", lambda s: event(s, url="http://[::1/")),
    Case("url-too-long", lambda s: event(s, url=url_of_length(MAX_URL + 1))),
    Case("url-nul", lambda s: event(s, url="https://example.com/a\x00b")),
    Case(
        "url-lone-high-surrogate",
        raw('{"site": "SITE", "type": "PAGE_VIEW", "url": "https://example.com/\\ud800"}'),
    ),
    Case(
        "url-lone-low-surrogate",
        raw('{"site": "SITE", "type": "PAGE_VIEW", "url": "https://example.com/\\udc00x"}'),
    ),
    # --- referrer ---------------------------------------------------------------------------
    Case("referrer-number", lambda s: event(s, referrer=1)),
    Case("referrer-boolean", lambda s: event(s, referrer=False)),
    Case("referrer-list", lambda s: event(s, referrer=["https://google.com/"])),
    Case("referrer-too-long", lambda s: event(s, referrer=url_of_length(MAX_URL + 1))),
    Case("referrer-nul", lambda s: event(s, referrer="https://google.com/\x00")),
    Case(
        "referrer-lone-surrogate",
        raw(
            '{"site": "SITE", "type": "PAGE_VIEW", "url": "https://e.com/", "referrer": "https://g.com/\\ud800"}'
        ),
    ),
    # --- screen -----------------------------------------------------------------------------
    Case("screen-negative", lambda s: event(s, screen=-1)),
    Case("screen-negative-fraction", lambda s: event(s, screen=-0.5)),
    Case("screen-huge", lambda s: event(s, screen=100_001)),
    Case("screen-fraction-over-max", lambda s: event(s, screen=100_000.5)),
    Case("screen-enormous-float", lambda s: event(s, screen=1e300)),
    Case("screen-string", lambda s: event(s, screen="1440")),
    Case("screen-boolean", lambda s: event(s, screen=True)),
    Case("screen-list", lambda s: event(s, screen=[1440])),
    Case(
        "screen-nan",
        raw('{"site": "SITE", "type": "PAGE_VIEW", "url": "https://e.com/", "screen": NaN}'),
    ),
    Case(
        "screen-overflow-to-infinity",
        raw('{"site": "SITE", "type": "PAGE_VIEW", "url": "https://e.com/", "screen": 1e400}'),
    ),
    # --- engaged_ms -------------------------------------------------------------------------
    Case("engaged-negative", lambda s: event(s, type="PAGE_EXIT", engaged_ms=-1)),
    Case("engaged-negative-fraction", lambda s: event(s, type="PAGE_EXIT", engaged_ms=-0.9)),
    Case("engaged-too-large", lambda s: event(s, type="PAGE_EXIT", engaged_ms=86_400_001)),
    Case("engaged-string", lambda s: event(s, type="PAGE_EXIT", engaged_ms="5230")),
    Case("engaged-boolean", lambda s: event(s, type="PAGE_EXIT", engaged_ms=False)),
    Case(
        "engaged-nan",
        raw('{"site": "SITE", "type": "PAGE_EXIT", "url": "https://e.com/", "engaged_ms": NaN}'),
    ),
    Case(
        "engaged-infinity",
        raw(
            '{"site": "SITE", "type": "PAGE_EXIT", "url": "https://e.com/", "engaged_ms": Infinity}'
        ),
    ),
    Case(
        "engaged-minus-infinity",
        raw(
            '{"site": "SITE", "type": "PAGE_EXIT", "url": "https://e.com/", "engaged_ms": -Infinity}'
        ),
    ),
    # --- id (the client's event id) ----------------------------------------------------------
    Case("id-15-chars", lambda s: event(s, id="a" * 15)),
    Case("id-65-chars", lambda s: event(s, id="a" * 65)),
    Case("id-space", lambda s: event(s, id="abcdefgh ijklmnop")),
    Case("id-slash", lambda s: event(s, id="abcdefgh/ijklmnop")),
    Case("id-non-ascii-letter", lambda s: event(s, id="abcdefghijklmnoé")),
    Case("id-nul", lambda s: event(s, id="abcdefghijklmnop\x00")),
    Case("id-trailing-newline", lambda s: event(s, id="abcdefghijklmnop\n")),
    Case("id-number", lambda s: event(s, id=1234567890123456789)),
    Case("id-boolean", lambda s: event(s, id=True)),
    Case("id-list", lambda s: event(s, id=["abcdefghijklmnop"])),
    Case("id-object", lambda s: event(s, id={"$gt": ""})),
    # --- other content types carrying non-JSON bodies ----------------------------------------
    Case(
        "form-urlencoded-body",
        lambda s: f"site={s}&type=PAGE_VIEW&url=https%3A%2F%2Fexample.com%2F",
        extra={"content_type": "application/x-www-form-urlencoded"},
    ),
    Case(
        "multipart-body",
        lambda s: f'--b\r\nContent-Disposition: form-data; name="site"\r\n\r\n{s}\r\n--b--\r\n',
        extra={"content_type": "multipart/form-data; boundary=b"},
    ),
]

METHOD_CASES = [
    Case(f"method-{method.lower()}", lambda s: event(s), 405, method=method)
    for method in ("GET", "PUT", "PATCH", "DELETE")
]


@pytest.fixture
def api() -> Client:
    # A 500 shows up as a status to compare (its traceback is still logged), not as an error.
    return Client(raise_request_exception=False)


def assert_nothing_written() -> None:
    counts = {
        "events": Event.objects.count(),
        "sessions": Session.objects.count(),
        "drops": DropCount.objects.count(),
        "salts": Salt.objects.count(),
    }
    assert counts == {"events": 0, "sessions": 0, "drops": 0, "salts": 0}


def assert_rejected(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert list(body) == ["error"]
    assert isinstance(body["error"], str) and body["error"].strip()
    return body


@pytest.mark.parametrize("case", CASES + METHOD_CASES, ids=lambda case: case.id)
def test_malformed_or_hostile_requests_are_refused_and_write_nothing(api, case):
    website = make_website(domain="example.com")
    if case.prepare is not None:
        case.prepare(website)
    response = post(api, encode(case.body(website.tracking_id)), method=case.method, **case.extra)
    assert_rejected(response, case.status)
    if case.status == 405:
        assert "POST" in response["Allow"]
    assert_nothing_written()


def test_the_table_is_large_enough_and_its_ids_unique():
    ids = [case.id for case in CASES + METHOD_CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 30


def test_read_body_refuses_a_streamed_body_without_content_length():
    """A body larger than the limit is refused even when no Content-Length announced it."""

    def read(size: int = -1) -> bytes:
        data = b" " * (MAX_BODY * 4)
        return data if size < 0 else data[:size]

    with pytest.raises(payload_mod.InvalidPayload) as exc:
        payload_mod.read_body({}, read)
    assert exc.value.status == 413


# --- the passing side of each limit ------------------------------------------------------


def assert_accepted(response) -> None:
    assert response.status_code == 202, response.content[:300]
    assert response["Access-Control-Allow-Origin"] == "*"


def test_the_baseline_body_of_the_table_is_accepted(api):
    website = make_website(domain="example.com")
    assert_accepted(post(api, encode(event(website.tracking_id))))
    assert Event.objects.get().path == "/pricing"


def test_a_body_of_exactly_the_limit_is_accepted(api):
    website = make_website(domain="example.com")
    data = padded(website.tracking_id, MAX_BODY)
    assert len(data) == MAX_BODY
    assert_accepted(post(api, data))
    assert Event.objects.count() == 1


def test_a_url_of_exactly_the_limit_is_accepted(api):
    website = make_website(domain="example.com")
    url = url_of_length(MAX_URL)
    assert len(url) == MAX_URL
    assert_accepted(post(api, encode(event(website.tracking_id, url=url))))
    assert Event.objects.get().path == url.removeprefix("https://example.com")


def test_a_referrer_of_exactly_the_limit_is_accepted(api):
    website = make_website(domain="example.com")
    referrer = "https://google.com/" + "r" * (MAX_URL - len("https://google.com/"))
    assert len(referrer) == MAX_URL
    assert_accepted(post(api, encode(event(website.tracking_id, referrer=referrer))))
    assert Session.objects.get().referrer_host == "google.com"


@pytest.mark.parametrize(
    "client_id",
    ["a" * 16, "Z" * 64, "3141592653-589793238-4626433", "0.8147236863931789-1767225600000"],
)
def test_an_id_within_its_limits_is_accepted_and_stored_as_a_key(api, client_id):
    website = make_website(domain="example.com")
    assert_accepted(post(api, encode(event(website.tracking_id, id=client_id))))
    assert Event.objects.get().dedup_key is not None


@pytest.mark.parametrize("screen", [0, 100_000])
def test_screen_at_its_bounds_is_accepted(api, screen):
    website = make_website(domain="example.com")
    assert_accepted(post(api, encode(event(website.tracking_id, screen=screen))))
    assert Event.objects.count() == 1
    assert Session.objects.get().screen == screen


@pytest.mark.parametrize("engaged_ms", [0, 86_400_000])
def test_engaged_ms_at_its_bounds_is_accepted_on_a_page_exit(api, engaged_ms):
    website = make_website(domain="example.com")
    site = website.tracking_id
    assert_accepted(post(api, encode(event(site))))
    assert_accepted(post(api, encode(event(site, type="PAGE_EXIT", engaged_ms=engaged_ms))))
    exit_event = Event.objects.get(type="PAGE_EXIT")
    assert exit_event.engaged_ms == engaged_ms
    assert Session.objects.get().has_exit
    assert DropCount.objects.count() == 0
