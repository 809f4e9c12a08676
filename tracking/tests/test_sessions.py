"""Session rules: the 30-minute gap, exit durations, bounces, midnight, visitor ids."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from simple_analytics.testing import IPHONE_UA, make_website, record_events, site_of
from tracking import pipeline
from tracking.models import DropCount, Event, Salt, Session
from tracking.payload import from_dict
from tracking.writer import write_events

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def view(at: dt.datetime, path: str = "/", **extra):
    return {"type": "PAGE_VIEW", "url": f"https://example.com{path}", "at": at, **extra}


def spa(at: dt.datetime, path: str, **extra):
    return {"type": "PATH_CHANGE", "url": f"https://example.com{path}", "at": at, **extra}


def leave(at: dt.datetime, path: str = "/", engaged_ms: int = 1000, **extra):
    return {
        "type": "PAGE_EXIT",
        "url": f"https://example.com{path}",
        "at": at,
        "engaged_ms": engaged_ms,
        **extra,
    }


@pytest.mark.django_db
class TestSessionRules:
    def test_events_less_than_30_minutes_apart_share_a_session(self):
        website = make_website()
        record_events(
            website, [view(T0, "/a"), view(T0 + dt.timedelta(minutes=29, seconds=59), "/b")]
        )
        session = Session.objects.get()
        assert session.pageviews == 2
        assert (session.entry_path, session.exit_path) == ("/a", "/b")
        assert session.duration_s == 29 * 60 + 59

    def test_a_30_minute_gap_starts_a_new_session(self):
        website = make_website()
        record_events(website, [view(T0, "/a"), view(T0 + dt.timedelta(minutes=30), "/b")])
        sessions = list(Session.objects.order_by("started_at"))
        assert [s.entry_path for s in sessions] == ["/a", "/b"]
        assert [s.pageviews for s in sessions] == [1, 1]
        assert sessions[0].visitor_id == sessions[1].visitor_id  # same visitor, same day

    def test_the_gap_is_measured_from_the_last_event_not_the_first(self):
        website = make_website()
        record_events(
            website,
            [view(T0), view(T0 + dt.timedelta(minutes=25)), view(T0 + dt.timedelta(minutes=50))],
        )
        assert Session.objects.get().pageviews == 3

    def test_an_exit_gives_a_one_page_visit_its_real_duration(self):
        website = make_website()
        record_events(website, [view(T0, "/a"), leave(T0 + dt.timedelta(seconds=45), "/a", 40_000)])
        session = Session.objects.get()
        assert session.duration_s == 45
        assert session.pageviews == 1
        assert session.is_bounce is True
        assert session.has_exit is True
        exit_event = Event.objects.get(type="PAGE_EXIT")
        assert exit_event.engaged_ms == 40_000
        assert exit_event.session_id == session.id

    def test_an_exit_is_not_a_page_view_and_does_not_change_the_exit_page(self):
        website = make_website()
        record_events(
            website,
            [
                view(T0, "/a"),
                spa(T0 + dt.timedelta(seconds=5), "/b"),
                leave(T0 + dt.timedelta(seconds=9), "/b"),
            ],
        )
        session = Session.objects.get()
        assert session.pageviews == 2
        assert session.exit_path == "/b"
        assert session.is_bounce is False

    def test_a_spa_navigation_counts_as_a_page_view(self):
        website = make_website()
        record_events(website, [view(T0, "/a"), spa(T0 + dt.timedelta(seconds=3), "/b")])
        session = Session.objects.get()
        assert (session.pageviews, session.is_bounce) == (2, False)

    def test_an_exit_that_continues_no_session_is_dropped_and_counted(self):
        website = make_website()
        result = record_events(website, [view(T0), leave(T0 + dt.timedelta(minutes=31))])
        assert result.stored_flags == [True, False]
        assert Event.objects.filter(type="PAGE_EXIT").count() == 0
        assert Session.objects.get().has_exit is False
        assert DropCount.objects.get(website=website, reason="exit_without_session").count == 1

    def test_another_user_agent_is_another_visitor(self):
        website = make_website()
        record_events(website, [view(T0), view(T0 + dt.timedelta(seconds=1), user_agent=IPHONE_UA)])
        assert Session.objects.values("visitor_id").distinct().count() == 2

    def test_the_same_visitor_on_two_websites_has_two_ids(self):
        a, b = make_website(domain="a.example"), make_website(domain="b.example")
        record_events(a, [{**view(T0), "url": "https://a.example/"}])
        record_events(b, [{**view(T0), "url": "https://b.example/"}])
        ids = list(Session.objects.values_list("visitor_id", flat=True))
        assert len(set(ids)) == 2

    def test_visitor_ids_change_with_the_local_day(self):
        website = make_website()
        record_events(website, [view(T0), view(T0 + dt.timedelta(days=1))])
        ids = list(Session.objects.order_by("started_at").values_list("visitor_id", flat=True))
        assert ids[0] != ids[1]

    def test_a_session_crossing_local_midnight_continues_and_belongs_to_its_start_day(self):
        website = make_website(timezone="Europe/Berlin")
        berlin = ZoneInfo("Europe/Berlin")
        before = dt.datetime(2026, 3, 10, 23, 50, tzinfo=berlin)
        after = dt.datetime(2026, 3, 11, 0, 10, tzinfo=berlin)
        record_events(website, [view(before, "/night"), view(after, "/morning")])
        session = Session.objects.get()
        assert session.pageviews == 2
        assert session.started_at.astimezone(berlin).date() == dt.date(2026, 3, 10)
        assert session.exit_path == "/morning"

    def test_the_local_day_not_the_utc_day_picks_the_salt(self):
        # 23:30 UTC on the 10th is already the 11th in Tokyo: both events share Tokyo's day.
        website = make_website(timezone="Asia/Tokyo")
        first = dt.datetime(2026, 3, 10, 15, 30, tzinfo=dt.UTC)  # 00:30 on the 11th in Tokyo
        second = first + dt.timedelta(hours=10)  # 10:30 in Tokyo, still the 11th
        record_events(website, [view(first), view(second)])
        ids = list(Session.objects.values_list("visitor_id", flat=True))
        assert len(ids) == 2 and ids[0] == ids[1]

    def test_neither_ip_nor_user_agent_is_stored(self):
        website = make_website()
        record_events(website, [view(T0, ip="198.51.100.77", user_agent=IPHONE_UA)])
        with connection.cursor() as cursor:
            for model in (Session, Event):
                cursor.execute(f"SELECT * FROM {model._meta.db_table}")
                dump = repr(cursor.fetchall())
                assert "198.51.100.77" not in dump
                assert "iPhone OS" not in dump

    def test_salts_are_random_per_day(self):
        website = make_website()
        record_events(website, [view(T0), view(T0 + dt.timedelta(days=1))])
        salts = list(Salt.objects.values_list("value", flat=True))
        assert len(salts) >= 2 and len({bytes(s) for s in salts}) == len(salts)


@pytest.mark.django_db(transaction=True)
def test_parallel_events_of_one_visitor_make_one_session_with_every_page_view():
    """50 writers at once (each its own connection, as separate web processes would be)."""
    website = make_website()
    site = site_of(website)
    at = dt.datetime.now(dt.UTC)
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            payload = from_dict(
                {
                    "site": website.tracking_id,
                    "type": "PAGE_VIEW",
                    "url": f"https://example.com/p{i}",
                }
            )
            event = pipeline.run(payload, site=site, ip="203.0.113.9", user_agent=IPHONE_UA, at=at)
            barrier.wait()
            write_events([event])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    session = Session.objects.get()
    assert session.pageviews == 50
    assert Event.objects.filter(session=session).count() == 50


@pytest.mark.django_db
def test_salts_older_than_two_days_are_deleted_and_tomorrows_is_made_ahead():
    from tracking.identity import salt_for, salts_prune

    today = dt.date(2026, 3, 10)
    for days_ago in range(5):
        salt_for(today - dt.timedelta(days=days_ago))
    deleted = salts_prune(today=today)
    assert deleted == 2
    kept = sorted(Salt.objects.values_list("day", flat=True))
    assert kept == [today - dt.timedelta(days=n) for n in (2, 1, 0)] + [
        today + dt.timedelta(days=1)
    ]


@pytest.mark.django_db(transaction=True)
def test_group_commit_answers_events_of_a_website_deleted_meanwhile_without_failing_others():
    from tracking.groupcommit import GroupCommitter

    kept, deleted = make_website(domain="kept.example"), make_website(domain="gone.example")
    at = dt.datetime.now(dt.UTC)

    def event_for(website):
        payload = from_dict(
            {"site": website.tracking_id, "type": "PAGE_VIEW", "url": f"https://{website.domain}/"}
        )
        return pipeline.run(
            payload, site=site_of(website), ip="203.0.113.1", user_agent=IPHONE_UA, at=at
        )

    stale = event_for(deleted)
    deleted.delete()  # another process still had its id cached
    committer = GroupCommitter(max_batch=10)
    assert committer.submit(event_for(kept)) is True
    assert committer.submit(stale) is False
    assert Event.objects.filter(website=kept).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_event_answered_503_is_never_stored_later():
    """A request that timed out before any writer took its event gets a 503; the event is
    then skipped, so the client's retry cannot store it twice."""
    from tracking.groupcommit import GroupCommitter, IngestUnavailable, _Done, _Pending

    website = make_website()
    payload = from_dict(
        {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"}
    )
    event = pipeline.run(
        payload,
        site=site_of(website),
        ip="203.0.113.2",
        user_agent=IPHONE_UA,
        at=dt.datetime.now(dt.UTC),
    )
    committer = GroupCommitter(max_batch=10)
    committer._ensure_thread = lambda: None  # no writer yet: the request must time out
    with pytest.raises(IngestUnavailable):
        committer.submit(event, timeout=0.05)
    (pending,) = list(committer._queue.queue)
    assert pending.take() is False  # a writer arriving now skips it
    assert Event.objects.count() == 0
    # And an event a writer already took is waited for, not abandoned.
    taken = _Pending(event, _Done())
    assert taken.take() is True and taken.cancel() is False
