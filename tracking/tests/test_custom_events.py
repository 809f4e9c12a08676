"""Custom events (type ``EVENT``): validation of ``name`` and ``props``, their storage on
SQLite and PostgreSQL, the sessions they join or open, the bounce rule, import lines and
retried ids. Runs in both passes of ``make test``."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import uuid
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from simple_analytics.testing import DESKTOP_UA, make_website, site_of
from tracking import pipeline
from tracking.importer import import_lines
from tracking.models import PAGEVIEW_TYPES, DropCount, Event, EventType, Session
from tracking.payload import InvalidPayload, from_dict
from tracking.pipeline import IncomingEvent
from tracking.sessions import LOADED, OpenSession, assign, latest_by_visitor
from tracking.writer import write_events
from websites.models import Website

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
IDLE = dt.timedelta(minutes=30)
MISSING = object()  # a ``body()`` override that removes the key


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def body(site: str, /, **fields: Any) -> dict[str, Any]:
    """A valid EVENT body; keyword arguments override (or, with MISSING, remove) fields."""
    out: dict[str, Any] = {
        "site": site,
        "type": "EVENT",
        "name": "Signup",
        "props": {"plan": "pro", "seats": 3, "trial": True},
        "url": "https://example.com/pricing",
    }
    for key, value in fields.items():
        if value is MISSING:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def post(client: Client, data: dict[str, Any] | str, *, ip: str = "198.51.100.30"):
    text = data if isinstance(data, str) else json.dumps(data)
    return client.generic(
        "POST",
        "/api/event",
        text,
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        REMOTE_ADDR=ip,
    )


def tracking_rows() -> dict[str, int]:
    return {m.__name__: m.objects.count() for m in apps.get_app_config("tracking").get_models()}


def incoming(website: Website, data: dict[str, Any], when: dt.datetime) -> IncomingEvent:
    """``data`` through validation and the pipeline, as live ingestion runs them."""
    raw = {"site": website.tracking_id, "url": "https://example.com/", **data}
    event = pipeline.run(
        from_dict(raw), site=site_of(website), ip="198.51.100.31", user_agent=DESKTOP_UA, at=when
    )
    assert isinstance(event, IncomingEvent), event
    return event


def write(website: Website, events: list[tuple[dict[str, Any], dt.datetime]], *, batch: bool):
    """Write the events in one batch, or one commit each (the session update statement)."""
    built = [incoming(website, data, when) for data, when in events]
    if batch:
        write_events(built)
    else:
        for event in built:
            write_events([event])


VIEW = {"type": "PAGE_VIEW"}
PATH_CHANGE = {"type": "PATH_CHANGE", "url": "https://example.com/b"}
EXIT = {"type": "PAGE_EXIT", "engaged_ms": 3000}
SIGNUP = {"type": "EVENT", "name": "Signup", "url": "https://example.com/pricing"}


# --- validation: every refusal is a 4xx that says why and stores nothing ----------------

# (case, body fields or raw JSON text with SITE for the tracking id, the exact message)
REFUSED: list[tuple[str, dict[str, Any] | str, str]] = [
    ("name missing", {"name": MISSING}, "name is required with type EVENT"),
    ("name null", {"name": None}, "name is required with type EVENT"),
    ("name empty", {"name": ""}, "name must be 1 to 120 characters after trimming"),
    ("name blank", {"name": " \t\n "}, "name must be 1 to 120 characters after trimming"),
    ("name 121", {"name": "n" * 121}, "name must be 1 to 120 characters after trimming"),
    (
        "name 121 trimmed",
        {"name": f" {'n' * 121} "},
        "name must be 1 to 120 characters after trimming",
    ),
    ("name number", {"name": 7}, "name must be a string"),
    ("name boolean", {"name": True}, "name must be a string"),
    ("name list", {"name": ["Signup"]}, "name must be a string"),
    ("name object", {"name": {"en": "Signup"}}, "name must be a string"),
    ("name NUL", {"name": "Sign\x00up"}, "name contains a NUL character"),
    (
        "name lone surrogate",
        '{"site": "SITE", "type": "EVENT", "name": "Sign\\ud800", "url": "https://example.com/"}',
        "name is not valid Unicode",
    ),
    ("props list", {"props": [["plan", "pro"]]}, "props must be a JSON object"),
    ("props string", {"props": "plan=pro"}, "props must be a JSON object"),
    ("props number", {"props": 3}, "props must be a JSON object"),
    ("props boolean", {"props": True}, "props must be a JSON object"),
    (
        "props 31 entries",
        {"props": {f"k{i}": i for i in range(31)}},
        "props may hold at most 30 entries",
    ),
    ("props empty key", {"props": {"": "x"}}, "a props key must be 1 to 300 characters"),
    ("props key 301", {"props": {"k" * 301: "x"}}, "a props key must be 1 to 300 characters"),
    ("props key NUL", {"props": {"pl\x00an": "x"}}, "a props key contains a NUL character"),
    (
        "props key lone surrogate",
        '{"site": "SITE", "type": "EVENT", "name": "a", "props": {"\\udc00": 1}, "url": "https://example.com/"}',
        "a props key is not valid Unicode",
    ),
    (
        "props value null",
        {"props": {"plan": None}},
        'props value of "plan" must be a string, a number or a boolean',
    ),
    (
        "props value list",
        {"props": {"plan": ["pro"]}},
        'props value of "plan" must be a string, a number or a boolean',
    ),
    (
        "props value object",
        {"props": {"plan": {"tier": 1}}},
        'props value of "plan" must be a string, a number or a boolean',
    ),
    (
        "props value 2001",
        {"props": {"plan": "p" * 2001}},
        'props value of "plan" longer than 2000 characters',
    ),
    (
        "props value 2001 digits",
        {"props": {"n": 10**2000}},
        'props value of "n" longer than 2000 characters',
    ),
    (
        "props value NUL",
        {"props": {"plan": "p\x00"}},
        'props value of "plan" contains a NUL character',
    ),
    (
        "props value lone surrogate",
        '{"site": "SITE", "type": "EVENT", "name": "a", "props": {"plan": "\\udfff"}, "url": "https://example.com/"}',
        'props value of "plan" is not valid Unicode',
    ),
    (
        "props value NaN",
        '{"site": "SITE", "type": "EVENT", "name": "a", "props": {"n": NaN}, "url": "https://example.com/"}',
        'props value of "n" must be a finite number',
    ),
    (
        "props value Infinity",
        '{"site": "SITE", "type": "EVENT", "name": "a", "props": {"n": Infinity}, "url": "https://example.com/"}',
        'props value of "n" must be a finite number',
    ),
    (
        "props value -Infinity",
        '{"site": "SITE", "type": "EVENT", "name": "a", "props": {"n": -Infinity}, "url": "https://example.com/"}',
        'props value of "n" must be a finite number',
    ),
    (
        "name on a page view",
        {"type": "PAGE_VIEW", "props": MISSING},
        "name is only accepted with type EVENT",
    ),
    (
        "empty name on a page view",
        {"type": "PAGE_VIEW", "name": "", "props": MISSING},
        "name is only accepted with type EVENT",
    ),
    (
        "props on a path change",
        {"type": "PATH_CHANGE", "name": MISSING},
        "props is only accepted with type EVENT",
    ),
    (
        "empty props on an exit",
        {"type": "PAGE_EXIT", "name": MISSING, "props": {}},
        "props is only accepted with type EVENT",
    ),
    (
        "type in lower case",
        {"type": "event"},
        "type must be one of EVENT, PAGE_EXIT, PAGE_VIEW, PATH_CHANGE",
    ),
]


def refused_body(site: str, fields: dict[str, Any] | str) -> dict[str, Any] | str:
    return fields.replace("SITE", site) if isinstance(fields, str) else body(site, **fields)


@pytest.mark.django_db
@pytest.mark.parametrize("fields, message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_bad_name_or_props_is_refused_with_its_reason_and_nothing_stored(client, fields, message):
    website = make_website()
    before = tracking_rows()
    response = post(client, refused_body(website.tracking_id, fields))
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert response["Access-Control-Allow-Origin"] == "*"
    assert tracking_rows() == before


@pytest.mark.django_db
@pytest.mark.parametrize("fields, message", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_import_events_refuses_the_same_lines_with_the_same_reason(fields, message):
    website = make_website()
    data = refused_body(website.tracking_id, fields)
    line = data if isinstance(data, str) else json.dumps(data)
    line = line[:-1] + ', "ts": "2026-03-10T12:00:00Z", "ip": "198.51.100.9"}'
    before = tracking_rows()
    report = import_lines([line])
    assert report.errors == [(1, message)]
    assert tracking_rows() == before


# (case, props sent, props stored): strings as sent, true/false, numbers as JSON has them.
STORED_PROPS = [
    ("strings", {"plan": "pro", "empty": ""}, {"plan": "pro", "empty": ""}),
    ("booleans", {"trial": True, "paid": False}, {"trial": "true", "paid": "false"}),
    ("integers", {"seats": 3, "debt": -2, "zero": 0}, {"seats": "3", "debt": "-2", "zero": "0"}),
    ("fractions", {"ratio": 1.5, "tenth": 0.1}, {"ratio": "1.5", "tenth": "0.1"}),
    (
        "integral floats",
        {"a": 3.0, "b": -0.0, "c": 1e20},
        {"a": "3", "b": "0", "c": "100000000000000000000"},
    ),
    ("exponents", {"big": 1e21, "small": 1.5e-7}, {"big": "1e+21", "small": "1.5e-07"}),
    ("big integers", {"n": 10**30}, {"n": "1" + "0" * 30}),
    ("none", None, None),
    ("missing", MISSING, None),
    ("empty", {}, None),
    ("all limits", {"k" * 300: "v" * 2000}, {"k" * 300: "v" * 2000}),
    ("30 entries", {f"k{i}": i for i in range(30)}, {f"k{i}": str(i) for i in range(30)}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sent, stored", [c[1:] for c in STORED_PROPS], ids=[c[0] for c in STORED_PROPS]
)
def test_props_are_stored_as_text_values(client, sent, stored):
    website = make_website()
    response = post(client, body(website.tracking_id, props=sent))
    assert response.status_code == 202
    event = Event.objects.get()
    assert (event.type, event.name, event.props) == ("EVENT", "Signup", stored)


def test_the_name_is_stored_trimmed_and_extra_fields_are_ignored():
    payload = from_dict(body("SITE", name="\u00a0 Download  \n", color="red"))
    assert payload.name == "Download"
    assert from_dict(body("SITE", name=" " + "n" * 120 + "\t")).name == "n" * 120


def test_other_types_carry_no_name_or_props():
    for type_ in ("PAGE_VIEW", "PATH_CHANGE", "PAGE_EXIT"):
        payload = from_dict(body("SITE", type=type_, name=None, props=None))
        assert (payload.name, payload.props) == (None, None)
    with pytest.raises(InvalidPayload, match="name is only accepted with type EVENT"):
        from_dict(body("SITE", type="PAGE_VIEW", props=MISSING))


# --- storage: both databases, the writer's SQL --------------------------------------------

TRICKY = {
    "quote": 'say "hi"',
    "back\\slash": "C:\\path\\",
    "comma,brace{}": "{a,b}",
    "NULL": "NULL",
    "null": "null",
    " spaced ": " padded ",
    "lines": "new\nline\ttab\r",
    "ünïcødé": "✓ 𝄞 \u2028 \ufeff \u202e",
    "markup": "<script>alert(1)</script>",
    "formula": "=1+1",
    "json": '{"nested": [1, 2]}',
    "control": "\x01\x1b\x7f",
}


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [True, False], ids=["one batch", "one commit each"])
def test_name_and_props_are_stored_exactly_whatever_they_hold(batch):
    website = make_website()
    events = [
        ({**SIGNUP, "name": name, "props": TRICKY}, at(i))
        for i, name in enumerate(['Sign "up"', "back\\slash", "NULL", "𝄞 ünïcødé", "a,b{c}"])
    ]
    events += [(VIEW, at(10)), ({**SIGNUP, "props": None}, at(11)), (EXIT, at(12))]
    write(website, events, batch=batch)
    stored = list(Event.objects.order_by("created_at").values_list("type", "name", "props"))
    assert stored == [
        ("EVENT", 'Sign "up"', TRICKY),
        ("EVENT", "back\\slash", TRICKY),
        ("EVENT", "NULL", TRICKY),
        ("EVENT", "𝄞 ünïcødé", TRICKY),
        ("EVENT", "a,b{c}", TRICKY),
        ("PAGE_VIEW", None, None),
        ("EVENT", "Signup", None),
        ("PAGE_EXIT", None, None),
    ]


@pytest.mark.django_db
def test_props_are_a_json_object_the_database_can_query():
    """jsonb on PostgreSQL, JSON text on SQLite: key lookups work on both (goals use them),
    and NULL (not JSON null) marks an event without props."""
    website = make_website()
    write(
        website,
        [
            ({**SIGNUP, "props": {"plan": "pro", "seats": 3}}, at(0)),
            ({**SIGNUP, "props": {"plan": "free"}}, at(1)),
            ({**SIGNUP, "props": None}, at(2)),
            (VIEW, at(3)),
        ],
        batch=True,
    )
    assert Event.objects.filter(props__plan="pro").count() == 1
    assert Event.objects.filter(props__seats="3").count() == 1
    assert Event.objects.filter(props__has_key="plan").count() == 2
    assert Event.objects.filter(props__isnull=True).count() == 2
    assert Event.objects.filter(name="Signup").count() == 3
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT DISTINCT pg_typeof(props)::text FROM tracking_event")
            assert cur.fetchall() == [("jsonb",)]
            cur.execute("SELECT props->>'seats' FROM tracking_event WHERE props ? 'seats'")
        else:
            cur.execute(
                "SELECT json_extract(props, '$.seats') FROM tracking_event "
                "WHERE json_extract(props, '$.seats') IS NOT NULL"
            )
        assert cur.fetchall() == [("3",)]


# --- sessions: an event joins the open one, or opens one; it is not a page view ---------


def only_session() -> Session:
    (session,) = Session.objects.all()
    return session


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [True, False], ids=["one batch", "one commit each"])
def test_an_event_joins_the_open_session_and_extends_it(batch):
    website = make_website()
    write(website, [(VIEW, at(0)), (SIGNUP, at(90))], batch=batch)
    session = only_session()
    assert (session.pageviews, session.duration_s, session.last_seen_at) == (1, 90, at(90))
    assert (session.entry_path, session.exit_path) == ("/", "/")  # an event is no exit page
    assert (session.is_bounce, session.has_exit) == (False, False)
    assert Event.objects.filter(session=session).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [True, False], ids=["one batch", "one commit each"])
def test_an_event_without_an_open_session_opens_one_of_no_page_views(batch):
    website = make_website()
    utm = "https://example.com/pricing?utm_source=news"
    write(website, [({**SIGNUP, "url": utm, "referrer": "https://t.co/x"}, at(0))], batch=batch)
    session = only_session()
    assert (session.pageviews, session.duration_s, session.is_bounce) == (0, 0, False)
    assert (session.entry_path, session.exit_path) == ("/pricing", "/pricing")
    assert (session.utm_source, session.referrer_host, session.has_exit) == ("news", "t.co", False)
    assert (session.minute_started_at, session.minute_pageviews) == (None, 0)


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [True, False], ids=["one batch", "one commit each"])
def test_page_views_and_an_exit_join_a_session_an_event_opened(batch):
    website = make_website()
    events = [
        (SIGNUP, at(0)),
        ({**VIEW, "url": "https://example.com/welcome"}, at(60)),
        (EXIT, at(80)),
    ]
    write(website, events, batch=batch)
    session = only_session()
    assert (session.pageviews, session.duration_s, session.has_exit) == (1, 80, True)
    assert (session.entry_path, session.exit_path) == ("/pricing", "/welcome")
    assert session.is_bounce is False  # one page view, but a custom event
    assert DropCount.objects.count() == 0


@pytest.mark.django_db
def test_an_event_after_the_idle_gap_opens_a_new_session():
    website = make_website()
    write(website, [(VIEW, at(0)), (SIGNUP, at(30 * 60))], batch=False)
    first, second = Session.objects.order_by("started_at")
    assert (first.pageviews, first.is_bounce, first.duration_s) == (1, True, 0)
    assert (second.pageviews, second.is_bounce, second.started_at) == (0, False, at(30 * 60))


@pytest.mark.django_db
@override_settings(INGEST_SESSION_PAGEVIEWS_PER_MINUTE=2)
def test_events_do_not_use_up_the_page_views_per_minute_cap():
    website = make_website()
    events = [(VIEW, at(0)), (SIGNUP, at(1)), (SIGNUP, at(2)), (SIGNUP, at(3)), (VIEW, at(4))]
    events += [(VIEW, at(5))]  # the third page view of the minute
    write(website, events, batch=False)
    session = only_session()
    assert (session.pageviews, session.minute_pageviews) == (2, 2)
    assert Event.objects.filter(type="EVENT").count() == 3
    assert dict(DropCount.objects.values_list("reason", "count")) == {"rate_limited": 1}


# --- the bounce rule: exactly one page view and no custom event --------------------------

BOUNCES = [
    ("one page view", [VIEW], True),
    ("one page view and its exit", [VIEW, EXIT], True),
    ("two page views", [VIEW, PATH_CHANGE], False),
    ("a page view and an event", [VIEW, SIGNUP], False),
    ("a page view, an event, an exit", [VIEW, SIGNUP, EXIT], False),
    ("a page view, an exit, an event", [VIEW, EXIT, SIGNUP], False),
    ("an event only", [SIGNUP], False),
    ("an event, then a page view", [SIGNUP, VIEW], False),
    ("an event, a page view, an exit", [SIGNUP, VIEW, EXIT], False),
    ("two page views and an event", [VIEW, SIGNUP, PATH_CHANGE], False),
]


@pytest.mark.django_db
@pytest.mark.parametrize("batch", [True, False], ids=["one batch", "one commit each"])
@pytest.mark.parametrize("kinds, bounce", [c[1:] for c in BOUNCES], ids=[c[0] for c in BOUNCES])
def test_a_bounce_is_one_page_view_and_no_custom_event(kinds, bounce, batch):
    website = make_website()
    write(website, [(kind, at(10 * i)) for i, kind in enumerate(kinds)], batch=batch)
    assert only_session().is_bounce is bounce


KINDS = st.sampled_from(
    [EventType.PAGE_VIEW, EventType.PATH_CHANGE, EventType.PAGE_EXIT, EventType.EVENT]
)


def loaded_row(s: OpenSession) -> tuple[Any, ...]:
    """``s`` as the writer loads it back (the columns ``LOADED``)."""
    return (s.pk, *(getattr(s, name) for name in LOADED[1:]))


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.tuples(KINDS, st.integers(0, 40 * 60)), min_size=1, max_size=12),
    sizes=st.lists(st.integers(1, 4), min_size=12, max_size=12),
)
def test_every_session_is_a_bounce_exactly_when_the_definition_says(steps, sizes):
    """However the events are cut into batches (each loads the sessions the previous ones
    stored, as the writer does), every session's page views, exit and bounce flag equal
    the definitions recomputed from its own events."""
    events, when = [], T0
    for kind, gap in steps:
        when += dt.timedelta(seconds=gap)
        events.append(
            IncomingEvent(website_id=1, type=kind, at=when, visitor_id=5, previous_visitor_id=6)
        )
    table: dict[int, OpenSession] = {}  # the stored sessions, by id
    members: dict[int, list[IncomingEvent]] = {}
    dropped: list[IncomingEvent] = []
    ids = itertools.count(1)
    start = 0
    for size in sizes:
        chunk, start = events[start : start + size], start + size
        latest = latest_by_visitor([loaded_row(s) for s in table.values()])
        batch = assign(chunk, stored_keys=set(), latest=latest, idle=IDLE, cap=0)
        for session in batch.new_sessions:
            session.pk = next(ids)
        for ev, session in batch.stored:
            assert session.pk is not None
            members.setdefault(session.pk, []).append(ev)
            table[session.pk] = session
        dropped += [ev for ev, _ in batch.dropped]
    assert sum(map(len, members.values())) + len(dropped) == len(events)
    assert all(ev.type == EventType.PAGE_EXIT for ev in dropped)
    for pk, evs in members.items():
        session = table[pk]
        pageviews = sum(e.type in PAGEVIEW_TYPES for e in evs)
        custom = any(e.type == EventType.EVENT for e in evs)
        assert evs[0].type != EventType.PAGE_EXIT  # an exit never opens a session
        assert session.pageviews == pageviews
        assert session.is_bounce == (pageviews == 1 and not custom)
        assert session.has_exit == any(e.type == EventType.PAGE_EXIT for e in evs)


# --- retried ids and import lines ----------------------------------------------------------


@pytest.mark.django_db
def test_a_retried_event_is_stored_once_and_counted_as_a_duplicate(client):
    website = make_website()
    event_id = str(uuid.uuid4())
    sent = body(website.tracking_id, id=event_id)
    answers = [post(client, sent).status_code, post(client, sent, ip="203.0.113.30").status_code]
    assert answers == [202, 202]
    assert Event.objects.count() == 1
    assert DropCount.objects.get(reason="duplicate").count == 1
    other = post(client, body(website.tracking_id, id=str(uuid.uuid4())))
    assert other.status_code == 202
    assert Event.objects.count() == 2


def import_line(website: Website, ts: str, **fields: Any) -> str:
    data = {**body(website.tracking_id, **fields), "ts": ts, "ip": "198.51.100.40"}
    return json.dumps({**data, "user_agent": DESKTOP_UA})


@pytest.mark.django_db
def test_import_events_takes_custom_events_like_live_ingestion(tmp_path):
    website = make_website()
    lines = [
        import_line(website, "2026-03-10T12:00:00Z", type="PAGE_VIEW", name=MISSING, props=MISSING),
        import_line(website, "2026-03-10T12:01:00Z", name=" Signup ", id="a" * 20),
        import_line(website, "2026-03-10T12:01:00Z", id="a" * 20),  # the same id: a duplicate
        import_line(website, "2026-03-10T12:02:00Z", name=MISSING),  # refused: line 4
        import_line(website, "2026-03-10T13:00:00Z", name="Download", props={"file": "a.pdf"}),
    ]
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    out, err = StringIO(), StringIO()
    call_command("import_events", str(path), "--quiet", stdout=out, stderr=err)
    assert "5 lines: 3 events stored, 1 rejected, dropped: 1 duplicate" in out.getvalue()
    assert "line 4: name is required with type EVENT" in err.getvalue()
    stored = list(Event.objects.order_by("created_at").values_list("type", "name", "props"))
    assert stored == [
        ("PAGE_VIEW", None, None),
        ("EVENT", "Signup", {"plan": "pro", "seats": "3", "trial": "true"}),
        ("EVENT", "Download", {"file": "a.pdf"}),
    ]
    first, second = Session.objects.order_by("started_at")
    assert (first.pageviews, first.is_bounce, first.duration_s) == (1, False, 60)
    assert (second.pageviews, second.is_bounce, second.entry_path) == (0, False, "/pricing")
