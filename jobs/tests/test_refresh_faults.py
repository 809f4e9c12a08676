"""The refresh enqueue after a commit never fails ingestion: while the queue storage
(Redis) cannot be reached the websites are remembered, and enqueued once it answers."""

from __future__ import annotations

import socket
import time

import pytest
import redis
from huey.contrib.djhuey import HUEY
from huey.storage import RedisStorage

from jobs import tasks
from simple_analytics.testing import make_website

pytestmark = pytest.mark.django_db


def _refresh_jobs():
    return sorted(
        t.args for t in HUEY.scheduled() + HUEY.pending() if t.name.endswith("refresh_website")
    )


def _unreachable_storage() -> RedisStorage:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    pool = redis.ConnectionPool.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=1)
    return RedisStorage(name="unreachable", connection_pool=pool)


def test_an_unreachable_queue_never_fails_the_caller_and_the_refresh_follows_once_it_answers(
    real_queue,
):
    down, other = make_website(domain="a.example"), make_website(domain="b.example")
    storage = HUEY.storage
    HUEY.storage = _unreachable_storage()
    try:
        assert tasks.request_refresh({down.id}, now=100.0) == 0  # refused, not raised
        assert tasks.request_refresh({down.id}, now=101.0) == 0  # paused: not even tried
    finally:
        HUEY.storage = storage
    assert _refresh_jobs() == []
    # Still within the pause after the failure: remembered, nothing asked of the queue.
    assert tasks.request_refresh({other.id}, now=101.5) == 0
    # The next commit after the pause enqueues the refreshes still owed along with its own.
    assert tasks.request_refresh({other.id}, now=102.5) == 2
    assert _refresh_jobs() == sorted([(down.id,), (other.id,)])
    assert tasks._owed == set()


def test_a_refresh_about_to_start_elsewhere_is_not_relied_on(real_queue, settings):
    """The debounce skips the queue only while a pending job surely starts later: a job
    that is starting (or running, its flag already cleared) may have read the database
    before this commit, so the commit's events need a job of their own."""
    settings.REFRESH_DEBOUNCE_SECONDS = 10
    website = make_website()
    real_queue.put(tasks._flag(website.id), time.time() + 0.1)  # another host's job, due now
    assert tasks.request_refresh({website.id}) == 0  # one is pending: none added
    real_queue.get(tasks._flag(website.id))  # that job starts: it clears the flag first
    assert tasks.request_refresh({website.id}) == 1  # this commit's events get their own
    assert tasks.request_refresh({website.id}) == 0  # and that one starts in 10 s: skipped
    assert _refresh_jobs() == [(website.id,)]
