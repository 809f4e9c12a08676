"""Session rules without a database: which session each event joins, or why it is dropped."""

from __future__ import annotations

import datetime as dt

from tracking.models import DropReason, EventType
from tracking.pipeline import IncomingEvent
from tracking.sessions import (
    LOADED,
    Assignment,
    OpenSession,
    SessionKey,
    assign,
    drop_duplicate,
    drop_exit_without_session,
    drop_over_minute_cap,
    latest_by_visitor,
)

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
IDLE = dt.timedelta(minutes=30)
SITE = 7
TODAY_ID, YESTERDAY_ID, OTHER_ID = 101, 202, 303


def at(minutes: float = 0, seconds: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes, seconds=seconds)


def event(
    when: dt.datetime,
    type_: str = EventType.PAGE_VIEW,
    *,
    path: str = "/",
    visitor: int = TODAY_ID,
    previous: int = YESTERDAY_ID,
    key: int | None = None,
) -> IncomingEvent:
    return IncomingEvent(
        website_id=SITE,
        type=type_,
        at=when,
        path=path,
        visitor_id=visitor,
        previous_visitor_id=previous,
        dedup_key=key,
    )


def loaded(
    pk: int,
    *,
    visitor: int,
    started_at: dt.datetime,
    last_seen_at: dt.datetime,
    pageviews: int = 1,
    minute_started_at: dt.datetime | None = None,
    minute_pageviews: int = 1,
) -> OpenSession:
    duration = int((last_seen_at - started_at).total_seconds())
    return OpenSession(
        pk,
        SITE,
        visitor,
        started_at,
        last_seen_at,
        duration,
        pageviews,
        "/loaded",
        pageviews == 1,
        False,
        minute_started_at or started_at,
        minute_pageviews,
    )


def run(
    events: list[IncomingEvent],
    *,
    stored_keys: set[int] | None = None,
    latest: list[OpenSession] | None = None,
    cap: int = 0,
) -> Assignment:
    sessions: dict[SessionKey, OpenSession] = {
        (s.website_id, s.visitor_id): s for s in latest or []
    }
    return assign(events, stored_keys=stored_keys or set(), latest=sessions, idle=IDLE, cap=cap)


def test_an_event_within_the_idle_window_continues_the_session() -> None:
    batch = run([event(at(0), path="/a"), event(at(10), path="/b")])
    first, second = batch.outcomes
    assert first is second
    assert isinstance(first, OpenSession)
    assert (first.pageviews, first.duration_s, first.exit_path) == (2, 600, "/b")
    assert (first.started_at, first.last_seen_at) == (at(0), at(10))
    assert batch.new_sessions == [first]


def test_an_event_after_the_idle_window_starts_a_new_session() -> None:
    batch = run([event(at(0)), event(at(30)), event(at(61))])
    first, second, third = batch.outcomes
    assert first is not second  # exactly 30 minutes later: the window is half-open
    assert second is not third
    assert len(batch.new_sessions) == 3


def test_a_loaded_session_continues_and_is_marked_changed() -> None:
    open_session = loaded(5, visitor=TODAY_ID, started_at=at(-20), last_seen_at=at(-10))
    batch = run([event(at(0), path="/next")], latest=[open_session])
    assert batch.outcomes == [open_session]
    assert batch.changed == {5: open_session}
    assert batch.new_sessions == []
    assert (open_session.pageviews, open_session.duration_s) == (2, 20 * 60)
    assert open_session.is_bounce is False


def test_a_session_crossing_local_midnight_continues_through_yesterdays_visitor_id() -> None:
    # After midnight the visitor hashes to a new id; the event also carries yesterday's.
    before = loaded(9, visitor=YESTERDAY_ID, started_at=at(-5), last_seen_at=at(-1))
    batch = run([event(at(0), visitor=TODAY_ID, previous=YESTERDAY_ID)], latest=[before])
    assert batch.outcomes == [before]
    assert batch.changed == {9: before}


def test_when_both_visitor_ids_have_a_session_the_one_seen_last_continues() -> None:
    older = loaded(1, visitor=TODAY_ID, started_at=at(-20), last_seen_at=at(-15))
    newer = loaded(2, visitor=YESTERDAY_ID, started_at=at(-10), last_seen_at=at(-2))
    batch = run([event(at(0))], latest=[older, newer])
    assert batch.outcomes == [newer]


def test_an_event_before_a_sessions_start_does_not_continue_it() -> None:
    later = loaded(3, visitor=TODAY_ID, started_at=at(5), last_seen_at=at(6))
    batch = run([event(at(0))], latest=[later])
    (outcome,) = batch.outcomes
    assert outcome is not later
    assert batch.new_sessions == [outcome]


def test_a_page_exit_without_a_session_is_dropped() -> None:
    batch = run([event(at(0), EventType.PAGE_EXIT)])
    assert batch.outcomes == [DropReason.EXIT_WITHOUT_SESSION]
    assert batch.stored == [] and batch.new_sessions == []


def test_a_page_exit_closes_its_session_without_counting_a_page_view() -> None:
    batch = run([event(at(0), path="/a"), event(at(2), EventType.PAGE_EXIT, path="/a")])
    session, same = batch.outcomes
    assert session is same and isinstance(session, OpenSession)
    assert (session.pageviews, session.has_exit, session.is_bounce) == (1, True, True)
    assert session.duration_s == 120


def test_an_event_whose_key_is_already_stored_is_dropped_as_a_duplicate() -> None:
    batch = run([event(at(0), key=42)], stored_keys={42})
    assert batch.outcomes == [DropReason.DUPLICATE]


def test_a_key_repeated_within_the_batch_keeps_the_first_copy_only() -> None:
    batch = run([event(at(0), key=42), event(at(0), key=42), event(at(1), key=43)])
    first, copy, other = batch.outcomes
    assert isinstance(first, OpenSession) and other is first
    assert copy == DropReason.DUPLICATE
    assert [ev.dedup_key for ev, _ in batch.stored] == [42, 43]


def test_a_dropped_events_key_is_not_remembered() -> None:
    # The exit is dropped, so a later copy of the same key is a new, storable event.
    batch = run([event(at(0), EventType.PAGE_EXIT, key=42), event(at(1), key=42)])
    assert batch.outcomes[0] == DropReason.EXIT_WITHOUT_SESSION
    assert isinstance(batch.outcomes[1], OpenSession)


def test_page_views_over_the_per_minute_cap_are_dropped_and_a_new_minute_resets_it() -> None:
    views = [event(at(seconds=s), path=f"/{s}") for s in (0, 10, 20, 30, 40)]
    late = event(at(seconds=60), path="/late")
    exit_ = event(at(seconds=50), EventType.PAGE_EXIT)
    batch = run([*views, exit_, late], cap=3)
    assert [o if isinstance(o, DropReason) else "kept" for o in batch.outcomes] == [
        "kept",
        "kept",
        "kept",
        DropReason.RATE_LIMITED,
        DropReason.RATE_LIMITED,
        "kept",  # exits are not capped
        "kept",  # a minute after the window opened: a new window
    ]
    (session,) = batch.new_sessions
    assert (session.pageviews, session.exit_path, session.minute_pageviews) == (4, "/late", 1)
    assert session.minute_started_at == at(seconds=60)


def test_a_cap_of_zero_caps_nothing() -> None:
    batch = run([event(at(seconds=s)) for s in range(10)], cap=0)
    assert all(isinstance(o, OpenSession) for o in batch.outcomes)


def test_a_loaded_sessions_minute_window_counts_toward_the_cap() -> None:
    full = loaded(
        4,
        visitor=TODAY_ID,
        started_at=at(-5),
        last_seen_at=at(seconds=-10),
        pageviews=3,
        minute_started_at=at(seconds=-30),
        minute_pageviews=2,
    )
    batch = run([event(at(0)), event(at(seconds=20)), event(at(seconds=40))], latest=[full], cap=3)
    assert batch.outcomes == [full, DropReason.RATE_LIMITED, full]
    assert (full.pageviews, full.minute_pageviews, full.minute_started_at) == (5, 1, at(seconds=40))


def test_bounce_is_a_session_with_one_page_view() -> None:
    one = run([event(at(0))]).new_sessions[0]
    two = run([event(at(0)), event(at(1))]).new_sessions[0]
    assert (one.is_bounce, one.duration_s) == (True, 0)
    assert (two.is_bounce, two.duration_s) == (False, 60)


def test_duration_is_whole_seconds_from_the_first_to_the_last_event() -> None:
    batch = run([event(at(0)), event(at(seconds=90.7))])
    assert batch.new_sessions[0].duration_s == 90


def test_events_are_applied_in_time_order_and_answered_in_the_order_given() -> None:
    exit_, second, first = (
        event(at(5), EventType.PAGE_EXIT, path="/b"),
        event(at(2), path="/b"),
        event(at(0), path="/a"),
    )
    batch = run([exit_, second, first])
    (session,) = batch.new_sessions
    assert batch.outcomes == [session, session, session]
    assert [ev for ev, _ in batch.stored] == [first, second, exit_]
    assert (session.started_at, session.last_seen_at, session.exit_path) == (at(0), at(5), "/b")
    assert session.first is first


def test_drops_are_listed_in_time_order() -> None:
    batch = run([event(at(3), EventType.PAGE_EXIT), event(at(1), key=1)], stored_keys={1})
    assert [(ev.at, reason) for ev, reason in batch.dropped] == [
        (at(1), DropReason.DUPLICATE),
        (at(3), DropReason.EXIT_WITHOUT_SESSION),
    ]


def test_the_callers_keys_and_sessions_are_left_as_given() -> None:
    keys = {1}
    latest: dict[SessionKey, OpenSession] = {}
    assign([event(at(0), key=2)], stored_keys=keys, latest=latest, idle=IDLE, cap=0)
    assert keys == {1} and latest == {}


def test_latest_by_visitor_keeps_each_visitors_session_seen_last() -> None:
    def row(pk: int, visitor: int, last_seen: dt.datetime) -> tuple[object, ...]:
        values = dict.fromkeys(LOADED)
        values.update(
            id=pk, website_id=SITE, visitor_id=visitor, started_at=at(-60), last_seen_at=last_seen
        )
        return tuple(values[name] for name in LOADED)

    latest = latest_by_visitor(
        [row(1, TODAY_ID, at(-3)), row(2, TODAY_ID, at(-1)), row(3, OTHER_ID, at(-9))]
    )
    assert {key: s.pk for key, s in latest.items()} == {(SITE, TODAY_ID): 2, (SITE, OTHER_ID): 3}


def test_drop_duplicate_rule() -> None:
    assert drop_duplicate(event(at(0), key=5), {5}) == DropReason.DUPLICATE
    assert drop_duplicate(event(at(0), key=6), {5}) is None
    assert drop_duplicate(event(at(0), key=None), {5}) is None


def test_drop_exit_without_session_rule() -> None:
    session = loaded(1, visitor=TODAY_ID, started_at=at(0), last_seen_at=at(0))
    exit_ = event(at(1), EventType.PAGE_EXIT)
    assert drop_exit_without_session(exit_, None) == DropReason.EXIT_WITHOUT_SESSION
    assert drop_exit_without_session(exit_, session) is None
    assert drop_exit_without_session(event(at(1)), None) is None


def test_drop_over_minute_cap_rule() -> None:
    session = loaded(1, visitor=TODAY_ID, started_at=at(0), last_seen_at=at(0), minute_pageviews=2)
    assert drop_over_minute_cap(event(at(seconds=30)), session, 2) == DropReason.RATE_LIMITED
    assert drop_over_minute_cap(event(at(seconds=30)), session, 3) is None
    assert drop_over_minute_cap(event(at(seconds=30)), session, 0) is None
    assert drop_over_minute_cap(event(at(seconds=60)), session, 2) is None
    path_change = event(at(seconds=30), EventType.PATH_CHANGE)
    assert drop_over_minute_cap(path_change, session, 2) == DropReason.RATE_LIMITED
    exit_ = event(at(seconds=30), EventType.PAGE_EXIT)
    assert drop_over_minute_cap(exit_, session, 2) is None
