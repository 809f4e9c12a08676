"""Ingestion when the database fails: a 503 with Retry-After within the answer budget,
never a 500 or a hang; a writer whose connection was killed fails its batch at once and
reconnects. (systemtests/faults.py does the same against a real server whose PostgreSQL and
Redis are stopped.)"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time

import pytest
from django.db import connection

from simple_analytics.testing import IPHONE_UA, make_website, site_of
from tracking import groupcommit, pipeline
from tracking.groupcommit import GroupCommitter, IngestUnavailable, _Done, _Pending
from tracking.models import Event
from tracking.payload import from_dict
from tracking.tests.test_collect import _wsgi
from websites.selectors import tracked_site_forget

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _events(website, ip: str):
    """``event(n)``: the n-th page view of one visitor, through the real pipeline, n s apart."""
    now = dt.datetime.now(dt.UTC)

    def event(n: int):
        payload = from_dict(json.loads(_body(website, n)))
        return pipeline.run(
            payload,
            site=site_of(website),
            ip=ip,
            user_agent=IPHONE_UA,
            at=now + dt.timedelta(seconds=n),
        )

    return event


def _body(website, n: int) -> bytes:
    return json.dumps(
        {
            "site": website.tracking_id,
            "type": "PAGE_VIEW",
            "url": f"https://example.com/p{n}",
            "id": f"fault-test-event-{n:08d}",
        }
    ).encode()


@pytest.mark.django_db(transaction=True)  # the fast path hands its connection back
def test_an_unreachable_database_is_answered_503_with_retry_after_within_the_budget(
    settings, tmp_path
):
    website = make_website()
    assert _wsgi("POST", _body(website, 1))[0] == "202 Accepted"  # site and salt now cached
    db = connection.settings_dict
    saved = dict(db)
    answers = []
    try:
        connection.close()
        if connection.vendor == "postgresql":
            connection.close_pool()
            db["PORT"] = _free_port()  # nothing listens there
        else:
            db["NAME"] = str(tmp_path / "missing" / "db.sqlite3")  # cannot be opened
        for n, forget in ((2, False), (3, True)):
            if forget:  # a site lookup that misses its cache needs the database too
                tracked_site_forget()
            t0 = time.monotonic()
            status, headers, body = _wsgi("POST", _body(website, n))
            answers.append((status, headers.get("Retry-After"), time.monotonic() - t0, body))
    finally:
        connection.close()
        if connection.vendor == "postgresql":
            connection.close_pool()
        db.clear()
        db.update(saved)
    for status, retry_after, took, body in answers:
        assert status == "503 Service Unavailable", body
        assert retry_after == "5"
        assert took < settings.INGEST_TIMEOUT_SECONDS + 1.0
    # Back: the retry of the refused event is stored, once.
    assert _wsgi("POST", _body(website, 2))[0] == "202 Accepted"
    assert Event.objects.filter(website=website).count() == 2


@pytest.mark.postgres  # deselected in the SQLite pass, run in the PostgreSQL one
@pytest.mark.django_db(transaction=True)
def test_a_writer_whose_connection_is_killed_fails_the_batch_at_once_and_reconnects():
    if connection.vendor != "postgresql":
        pytest.skip("terminates PostgreSQL backends")
    website = make_website()
    event = _events(website, ip="203.0.113.9")

    committer = GroupCommitter(max_batch=10)
    committer.idle_close_s = 60.0  # the writer keeps its connection between batches
    assert committer.submit(event(1), timeout=20) is True
    # What a PostgreSQL restart does to the connection the writer holds.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone()[0] >= 1
    t0 = time.monotonic()
    with pytest.raises(IngestUnavailable):
        committer.submit(event(2), timeout=20)
    assert time.monotonic() - t0 < 2.0  # failed as a batch, not retried event by event
    # The writer thread is alive and reconnected: the client's retry is stored once.
    assert committer.submit(event(2), timeout=20) is True
    assert committer.submit(event(3), timeout=20) is True
    assert Event.objects.filter(website=website).count() == 3
    # Let the writer hand its connection back (the test database is dropped at the end).
    committer.idle_close_s = 0.05
    woken = _Pending(event(4), _Done())
    woken.cancel()
    committer._queue.put(woken)
    time.sleep(0.5)


@pytest.mark.django_db(transaction=True)
def test_past_its_deadline_an_event_waits_on_while_the_database_is_slow_not_once_it_is_gone():
    """Slow (writers committing, with pauses of more than half a second as on a busy CI
    machine, just not this event yet): wait on, then stored. Unreachable (a writer's
    connection failed): 503 at the deadline. Hanging (nothing committed for ``_HUNG_S``):
    503 then. Either 503'd event is never stored later."""
    website = make_website()
    event = _events(website, ip="203.0.113.10")

    committer = GroupCommitter(max_batch=10)
    start_writer = committer._ensure_thread
    committer._ensure_thread = lambda: None  # no writer yet: the event stays queued
    busy = threading.Event()

    def other_commits() -> None:  # what writers busy with other batches report, now and then
        while not busy.is_set():
            committer._last_commit_at = time.monotonic()
            time.sleep(0.6)

    threading.Thread(target=other_commits, daemon=True).start()

    def writer_arrives() -> None:  # after the deadline, with the event still queued
        waiting = committer._queue
        start_writer()  # a new queue for this process's writers: hand the event over
        while not waiting.empty():
            committer._queue.put(waiting.get())

    threading.Timer(1.5, writer_arrives).start()
    t0 = time.monotonic()
    try:
        assert committer.submit(event(1), timeout=0.1) is True
    finally:
        busy.set()
    assert time.monotonic() - t0 > 1.4
    # Unreachable: a writer's connection attempt failed and none has succeeded since.
    down = GroupCommitter(max_batch=10)
    down._ensure_thread = lambda: None
    down._unreachable_since = time.monotonic()
    t0 = time.monotonic()
    with pytest.raises(IngestUnavailable):
        down.submit(event(2), timeout=0.3)
    assert 0.3 <= time.monotonic() - t0 < 0.8
    # Hanging: no error, but nothing committed at all while the event waited.
    stuck = GroupCommitter(max_batch=10)
    stuck._ensure_thread = lambda: None
    t0 = time.monotonic()
    with pytest.raises(IngestUnavailable):
        stuck.submit(event(3), timeout=0.1)
    assert groupcommit._HUNG_S <= time.monotonic() - t0 < groupcommit._HUNG_S + 1.0
    assert Event.objects.filter(website=website).count() == 1
