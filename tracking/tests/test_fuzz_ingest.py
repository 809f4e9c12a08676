"""Hostile ingestion bodies through both doors of ``POST /api/event``: the Django view and the
WSGI fast path of production (``simple_analytics.wsgi``).

Property-based (hypothesis): whatever the body and headers, the answer is never a 5xx; a
refusal (4xx) says why in JSON and writes nothing (no event, session, drop count or salt);
an acceptance is an empty 202 that adds at most one event; and both doors answer alike.
Then boundary tests on both sides of every limit of the contract, and the characters that
differ between databases (NUL, lone surrogates, invalid UTF-8), which must get the same
answer on SQLite and PostgreSQL: this module runs in both passes of ``make test``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import event as count_as
from hypothesis import given
from hypothesis import strategies as st

from simple_analytics.testing import DESKTOP_UA, make_website
from simple_analytics.tests.fuzz import ENCODINGS, FUZZ, encode_json, json_values, text
from tracking import payload as payload_mod
from tracking.models import Event, EventType

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SITE = "<SITE>"  # replaced by the fixture website's tracking id
TYPES = [t.value for t in EventType]


@pytest.fixture
def website():
    return make_website(domain="example.com")


@pytest.fixture(autouse=True)
def _fast_path_keeps_the_test_connection(monkeypatch):
    """Like Django's test client, which disconnects ``close_old_connections`` from the
    request signals: the fast path would otherwise close the test's transaction."""
    import simple_analytics.wsgi as wsgi

    monkeypatch.setattr(wsgi, "close_old_connections", lambda: None)


def tracking_rows() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in apps.get_app_config("tracking").get_models()}


# --- the two doors -------------------------------------------------------------------


def via_django(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    response = Client().post("/api/event", data=body, content_type="text/plain", **headers)
    return response.status_code, response.content


def via_wsgi(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    from wsgiref.util import setup_testing_defaults

    from simple_analytics.wsgi import application

    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/event",
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **headers,
    }
    setup_testing_defaults(environ)
    seen: dict[str, str] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    content = b"".join(application(environ, start_response))
    return int(seen["status"].split()[0]), content


DOORS = {"django": via_django, "wsgi": via_wsgi}


def send(door: str, body: bytes, **headers: str) -> tuple[int, bytes]:
    headers.setdefault("REMOTE_ADDR", "198.51.100.7")
    headers.setdefault("HTTP_USER_AGENT", DESKTOP_UA)
    return DOORS[door](body, headers)


def assert_answer(status: int, content: bytes, before: dict[str, int], what: str) -> None:
    """The invariants of every answer."""
    after = tracking_rows()
    assert status < 500, f"{what}: {status} {content[:200]!r}"
    if status >= 400:
        assert after == before, f"{what}: refused with {status} but wrote {before} -> {after}"
        error = json.loads(content)["error"]
        assert isinstance(error, str) and error, what
    else:
        assert status in (202, 204), what
        assert content == b"", what
        assert after["Event"] - before["Event"] <= 1, what
        if after["Event"] > before["Event"]:
            assert_stored_as_the_contract_says(Event.objects.latest("id"), what)


def assert_stored_as_the_contract_says(stored: Event, what: str) -> None:
    """A name and props only on a custom event: the name trimmed, 1 to 120 characters; the
    props a flat object of at most 30 text values, NULL rather than empty."""
    if stored.type != EventType.EVENT:
        assert (stored.name, stored.props) == (None, None), what
        return
    assert stored.name is not None and stored.name == stored.name.strip(), what
    assert 1 <= len(stored.name) <= payload_mod.MAX_NAME_CHARS, what
    if stored.props is not None:
        assert 1 <= len(stored.props) <= payload_mod.MAX_PROPS, what
        assert all(isinstance(v, str) for v in stored.props.values()), what


# --- strategies ----------------------------------------------------------------------


def rarely(
    hostile: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """``hostile`` one time in four: an event with many fields then still gets through often
    enough to exercise enrichment, sessions and the writer, not only validation."""
    return st.integers(0, 3).flatmap(lambda n: hostile if n == 0 else usual)


@st.composite
def urls(draw: st.DrawFn) -> str:
    """Mostly well-formed page URLs with odd paths and UTM values; a quarter of them with NUL,
    lone surrogates, other schemes and hosts too."""
    hostile = draw(st.integers(0, 3)) == 0
    schemes = ["https", "http", "HTTPS", "javascript", "ftp", "", "data"]
    hosts = ["example.com", "www.example.com", "[::1]", "example.com:99999", "", "ex%00.com"]
    scheme = draw(st.sampled_from(schemes) if hostile else st.sampled_from(["https", "http"]))
    host = draw(st.one_of(st.sampled_from(hosts), text(15)) if hostile else st.just("example.com"))
    part = text(40) if hostile else text(40, surrogates=False).map(lambda v: v.replace("\x00", ""))
    path = draw(part)
    params = draw(
        st.dictionaries(
            st.sampled_from(["utm_source", "utm_medium", "utm_campaign", "ref", "source", "q"]),
            part,
            max_size=3,
        )
    )
    raw_query = draw(st.one_of(st.just(""), part))  # unencoded, as pages have them
    query = urlencode(params, quote_via=quote, errors="surrogatepass") + raw_query
    return f"{scheme}://{host}/{path}" + (f"?{query}" if query else "")


def numbers(top: int) -> st.SearchStrategy[Any]:
    return rarely(
        st.one_of(
            st.sampled_from([top + 1, -1, 2**63, -(2**63), 1e308, -0.5, 0.5, float("nan")]),
            json_values(2),
        ),
        st.one_of(st.integers(0, top), st.just(top), st.floats(0, top)),
    )


def clean(max_size: int) -> st.SearchStrategy[str]:
    """Text every database stores (no NUL, no lone surrogate)."""
    return text(max_size, surrogates=False).map(lambda v: v.replace("\x00", ""))


# Custom events: names and props mostly within the contract, so EVENT bodies reach the
# writer often; a quarter hostile (wrong types, NUL, surrogates, over the limits).
NAMES = rarely(
    st.one_of(json_values(2), text(130), st.just(" " * 3), st.just("x" * 121)),
    clean(40).map(lambda v: v if v.strip() else "Signup"),
)
PROP_VALUES = rarely(
    st.one_of(json_values(2), text(30), st.sampled_from([float("nan"), "v" * 2001, 10**2001])),
    st.one_of(clean(30), st.booleans(), st.integers(-(2**70), 2**70), st.floats(-1e30, 1e30)),
)
PROPS = rarely(
    st.one_of(
        json_values(3),
        st.dictionaries(text(10), PROP_VALUES, max_size=4),
        st.just({f"k{i}": i for i in range(payload_mod.MAX_PROPS + 1)}),
        st.just({"": "empty key"}),
    ),
    st.dictionaries(clean(12).filter(bool), PROP_VALUES, max_size=5),
)

FIELDS = {
    "site": rarely(text(70), st.just(SITE)),
    "type": rarely(json_values(2), st.sampled_from(TYPES)),
    "url": rarely(json_values(2), urls()),
    "referrer": rarely(st.one_of(text(30), json_values(2)), st.one_of(st.just(""), urls())),
    "screen": numbers(payload_mod.MAX_SCREEN_PX),
    "engaged_ms": numbers(payload_mod.MAX_ENGAGED_MS),
    "id": rarely(text(20), st.text(alphabet="0123456789abcdef-", min_size=16, max_size=64)),
    "name": NAMES,
    "props": PROPS,
    # Never read from the body (the request's own address and header count).
    "ip": text(20),
    "user_agent": text(20),
}
_OPTIONAL = ("referrer", "screen", "engaged_ms", "id", "ip", "user_agent")
page_bodies = st.fixed_dictionaries(
    {"site": st.just(SITE), "type": st.sampled_from(TYPES), "url": urls()},
    optional={k: FIELDS[k] for k in _OPTIONAL},
)
# Custom events: a name (a wrong one a quarter of the time), props most of the time.
event_bodies = st.fixed_dictionaries(
    {"site": st.just(SITE), "type": st.just("EVENT"), "url": urls(), "name": NAMES},
    optional={"props": PROPS, **{k: FIELDS[k] for k in _OPTIONAL}},
)
bodies = st.one_of(page_bodies, event_bodies)
any_bodies = st.fixed_dictionaries({}, optional=FIELDS)
# Header values as a WSGI server hands them over (Latin-1), NUL included: granian refuses
# control characters in headers, other front ends may pass them on.
header_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=300)


def with_site(value: Any, site: str) -> Any:
    if isinstance(value, dict):
        return {k: with_site(v, site) for k, v in value.items()}
    return site if value == SITE else value


# --- properties ----------------------------------------------------------------------


HEADERS = st.dictionaries(
    st.sampled_from(
        ["HTTP_DNT", "HTTP_SEC_GPC", "HTTP_X_FORWARDED_FOR", "HTTP_ORIGIN", "HTTP_REFERER"]
    ),
    header_text,
    max_size=2,
)
AGENTS = st.one_of(st.just(DESKTOP_UA), header_text)


def both_doors(data: bytes, user_agent: str, headers: dict[str, str]) -> int:
    answers = {}
    for door in DOORS:
        before = tracking_rows()
        status, content = send(door, data, HTTP_USER_AGENT=user_agent, **headers)
        assert_answer(status, content, before, f"{door}: {data[:300]!r}")
        answers[door] = (status, content)
    # The same function behind both doors: the same answer (a repeated event with an id is
    # answered 202 as a duplicate, like the first one).
    assert answers["django"] == answers["wsgi"], data[:300]
    count_as(f"status {status}")  # --hypothesis-show-statistics: how many got through
    return status


@FUZZ
@given(
    body=bodies, how=st.sampled_from(["ascii"] * 4 + ["utf8"]), user_agent=AGENTS, headers=HEADERS
)
def test_events_with_hostile_values_get_a_sane_answer_from_both_doors(
    website, body, how, user_agent, headers
):
    both_doors(encode_json(with_site(body, website.tracking_id), how), user_agent, headers)


@FUZZ
@given(body=st.one_of(any_bodies, json_values()), how=ENCODINGS, user_agent=AGENTS, headers=HEADERS)
def test_any_json_body_gets_a_sane_answer_from_both_doors(website, body, how, user_agent, headers):
    both_doors(encode_json(with_site(body, website.tracking_id), how), user_agent, headers)


@FUZZ
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_are_refused_without_a_trace(website, data):
    for door in DOORS:
        before = tracking_rows()
        status, content = send(door, data)
        assert_answer(status, content, before, f"{door}: {data[:100]!r}")


@FUZZ
@given(
    declared=st.one_of(
        st.integers(min_value=-5, max_value=20_000).map(str),
        text(8),
        st.just(""),
        st.just(" 12 "),
        st.just("1e3"),
    ),
    data=st.binary(max_size=50),
)
def test_any_content_length_is_handled(website, declared, data):
    """The fast path reads the body itself, trusting nothing the client declares."""
    body = (
        json.dumps(
            {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"}
        ).encode()
        + data
    )
    before = tracking_rows()
    status, content = send("wsgi", body, CONTENT_LENGTH=declared)
    assert_answer(status, content, before, f"Content-Length {declared!r}")


# --- limits, both sides --------------------------------------------------------------


def event(site: str, **fields: Any) -> dict[str, Any]:
    return {"site": site, "type": "PAGE_VIEW", "url": "https://example.com/", **fields}


def padded(site: str, size: int) -> bytes:
    """A valid event of exactly ``size`` bytes (an ignored field takes the rest)."""
    base = json.dumps(event(site, pad="")).encode()
    return json.dumps(event(site, pad="x" * (size - len(base)))).encode()


def limit_cases(site: str) -> Iterator[tuple[str, bytes, int]]:
    """(what, body, expected status) on both sides of every limit."""
    limit = django_settings.INGEST_MAX_BODY_BYTES
    yield "body at the limit", padded(site, limit), 202
    yield "body one byte over", padded(site, limit + 1), 413
    url_max = django_settings.INGEST_MAX_URL_CHARS
    base = "https://example.com/"
    yield (
        "url at the limit",
        json.dumps(event(site, url=base + "a" * (url_max - len(base)))).encode(),
        202,
    )
    yield (
        "url one over",
        json.dumps(event(site, url=base + "a" * (url_max - len(base) + 1))).encode(),
        400,
    )
    ref = "https://ref.example/"
    yield (
        "referrer at the limit",
        json.dumps(event(site, referrer=ref + "r" * (url_max - len(ref)))).encode(),
        202,
    )
    yield (
        "referrer one over",
        json.dumps(event(site, referrer=ref + "r" * (url_max - len(ref) + 1))).encode(),
        400,
    )
    for name, top in (
        ("screen", payload_mod.MAX_SCREEN_PX),
        ("engaged_ms", payload_mod.MAX_ENGAGED_MS),
    ):
        yield f"{name} 0", json.dumps(event(site, **{name: 0})).encode(), 202
        yield f"{name} at the limit", json.dumps(event(site, **{name: top})).encode(), 202
        yield f"{name} one over", json.dumps(event(site, **{name: top + 1})).encode(), 400
        yield f"{name} -1", json.dumps(event(site, **{name: -1})).encode(), 400
        yield f"{name} -0.5", json.dumps(event(site, **{name: -0.5})).encode(), 400
        yield f"{name} 1.5", json.dumps(event(site, **{name: 1.5})).encode(), 202
        yield f"{name} true", json.dumps(event(site, **{name: True})).encode(), 400
        yield f"{name} as text", json.dumps(event(site, **{name: "1"})).encode(), 400
    yield from custom_event_limit_cases(site)
    yield "site too long", json.dumps(event("s" * (payload_mod.MAX_SITE_CHARS + 1))).encode(), 400
    yield (
        "site at the length limit, unknown",
        json.dumps(event("s" * payload_mod.MAX_SITE_CHARS)).encode(),
        400,
    )
    yield "empty body", b"", 400
    yield "JSON array", b"[]", 400
    yield "deeply nested", b"[" * 100_000, 413
    yield "nested within the size", b"[" * 8000, 400


def custom_event_limit_cases(site: str) -> Iterator[tuple[str, bytes, int]]:
    def custom(name: str = "Signup", **fields: Any) -> bytes:
        return json.dumps(event(site, type="EVENT", name=name, **fields)).encode()

    top = payload_mod.MAX_NAME_CHARS
    yield "name at the limit", custom("n" * top), 202
    yield "name at the limit once trimmed", custom("  " + "n" * top + "\n"), 202
    yield "name one over", custom("n" * (top + 1)), 400
    yield "name blank", custom(" \t "), 400
    entries = payload_mod.MAX_PROPS
    yield "props at the limit", custom(props={f"k{i}": i for i in range(entries)}), 202
    yield "props one over", custom(props={f"k{i}": i for i in range(entries + 1)}), 400
    key = payload_mod.MAX_PROP_KEY_CHARS
    yield "props key at the limit", custom(props={"k" * key: "v"}), 202
    yield "props key one over", custom(props={"k" * (key + 1): "v"}), 400
    yield "props key empty", custom(props={"": "v"}), 400
    value = payload_mod.MAX_PROP_VALUE_CHARS
    yield "props value at the limit", custom(props={"k": "v" * value}), 202
    yield "props value one over", custom(props={"k": "v" * (value + 1)}), 400
    yield "props number of as many digits", custom(props={"k": 10 ** (value - 1)}), 202
    yield "props number one digit over", custom(props={"k": 10**value}), 400


@pytest.mark.parametrize("door", DOORS)
def test_both_sides_of_every_limit(website, door):
    for what, body, expected in limit_cases(website.tracking_id):
        before = tracking_rows()
        status, content = send(door, body)
        assert status == expected, f"{door}, {what}: {status} {content[:200]!r}"
        assert_answer(status, content, before, what)


def test_a_declared_length_over_the_limit_is_refused_unread(website):
    limit = django_settings.INGEST_MAX_BODY_BYTES
    body = json.dumps(event(website.tracking_id)).encode()
    for declared, expected in ((limit, 202), (limit + 1, 413), ("nope", 400)):
        status, _ = send("wsgi", body, CONTENT_LENGTH=str(declared))
        assert status == expected, declared


def test_the_user_agent_header_is_capped_not_refused(website):
    status, _ = send(
        "django",
        json.dumps(event(website.tracking_id)).encode(),
        HTTP_USER_AGENT=DESKTOP_UA + " x" * 5000,
    )
    assert status == 202


# --- characters that differ between databases -----------------------------------------

# (what, body fields, expected status): identical on SQLite and PostgreSQL.
CHARACTER_CASES = [
    ("NUL in the url", {"url": "https://example.com/\u0000"}, 400),
    ("NUL in the referrer", {"referrer": "https://ref.example/\u0000"}, 400),
    ("NUL in the site", {"site": "\u0000"}, 400),
    ("NUL in the type", {"type": "PAGE_VIEW\u0000"}, 400),
    ("percent-encoded NUL in a UTM value", {"url": "https://example.com/?utm_source=a%00b"}, 400),
    ("percent-encoded NUL in the path", {"url": "https://example.com/a%00b"}, 400),
    ("lone surrogate in the url", {"url": "https://example.com/\ud800"}, 400),
    ("lone surrogate in the referrer", {"referrer": "https://ref.example/\udfff"}, 400),
    ("lone surrogate in the site", {"site": "\ud800"}, 400),
    ("NUL in a custom event's name", {"type": "EVENT", "name": "Sign\u0000up"}, 400),
    ("lone surrogate in a name", {"type": "EVENT", "name": "Sign\ud800"}, 400),
    ("NUL in a props key", {"type": "EVENT", "name": "a", "props": {"k\u0000": "v"}}, 400),
    ("NUL in a props value", {"type": "EVENT", "name": "a", "props": {"k": "\u0000"}}, 400),
    ("lone surrogate in a props key", {"type": "EVENT", "name": "a", "props": {"\udc00": 1}}, 400),
    (
        "lone surrogate in a props value",
        {"type": "EVENT", "name": "a", "props": {"k": "\udfff"}},
        400,
    ),
    ("astral characters in props", {"type": "EVENT", "name": "𝄞", "props": {"𝄞": "𝄞"}}, 202),
    (
        "control characters in props",
        {"type": "EVENT", "name": "\u0001", "props": {"\u007f": "\u001b"}},
        202,
    ),
    ("lone surrogate in an ignored field", {"note": "\ud800"}, 202),
    ("NUL in an ignored field", {"note": "\u0000"}, 202),
    (
        "percent-encoded surrogate in a UTM value",
        {"url": "https://example.com/?utm_source=%ED%A0%80"},
        202,
    ),
    (
        "percent-encoded invalid UTF-8 in a UTM value",
        {"url": "https://example.com/?utm_campaign=%ff%fe"},
        202,
    ),
    ("percent-encoded invalid UTF-8 in the path", {"url": "https://example.com/%ff"}, 202),
    ("astral characters", {"url": "https://example.com/𝄞?utm_source=𝄞"}, 202),
    ("control characters", {"url": "https://example.com/a\u0001b\u007f"}, 202),
]


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize(
    "what, fields, expected", CHARACTER_CASES, ids=[c[0] for c in CHARACTER_CASES]
)
def test_nul_surrogates_and_invalid_utf8_get_the_same_answer_everywhere(
    website, door, what, fields, expected
):
    body = event(website.tracking_id)
    body.update({k: (website.tracking_id if v == SITE else v) for k, v in fields.items()})
    for how in ("ascii", "utf8"):  # \uXXXX escapes, and raw bytes (surrogates: invalid UTF-8)
        data = encode_json(body, how)
        if how == "utf8" and any(
            0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(body, ensure_ascii=False)
        ):
            expect = 400  # the raw bytes are not UTF-8 at all
        else:
            expect = expected
        before = tracking_rows()
        status, content = send(door, data)
        assert status == expect, f"{what} ({how}): {status} {content!r}"
        assert_answer(status, content, before, what)
    stored = list(Event.objects.values_list("path", flat=True))
    assert all("\x00" not in p for p in stored)


@pytest.mark.parametrize("door", DOORS)
def test_invalid_utf8_bytes_are_refused(website, door):
    good = json.dumps(event(website.tracking_id)).encode()
    for bad in (
        good.replace(b"example.com/", b"example.com/\xff"),
        b"\xef\xbb\xbf" + good[:5] + b"\xc0\x80",
        good.replace(b"PAGE_VIEW", b"PAGE_\xed\xa0\x80VIEW"),
    ):
        before = tracking_rows()
        status, content = send(door, bad)
        assert status == 400, bad
        assert_answer(status, content, before, repr(bad))


@pytest.mark.parametrize("door", DOORS)
def test_a_nul_in_the_user_agent_header_is_answered_alike_everywhere(website, door):
    """HTTP servers refuse NUL in headers, other WSGI servers and proxies may not."""
    body = json.dumps(event(website.tracking_id)).encode()
    for agent in ("\x00Foo-iPhone/1.0 CFNetwork/1490.0.4 Darwin/23.2.0", DESKTOP_UA + "\x00"):
        before = tracking_rows()
        status, content = send(door, body, HTTP_USER_AGENT=agent)
        assert status == 202, (agent, status, content)
        assert_answer(status, content, before, repr(agent))
