"""Counter limits hold when requests race: 300 wrong API keys sent at once from one address
get exactly ``API_KEY_FAILURES_PER_MINUTE`` key lookups in the database and 429 for the
rest; good keys that race wait for a place instead of being refused, and give it back;
concurrent key creations stop at the cap.

Run on the cache the settings configure (memory under pytest, Redis with ``REDIS_URL``) and
on the file cache a server uses without Redis (several processes share it through a lock).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import Client

from accounts import throttle
from api.models import ApiKey
from simple_analytics.testing import make_user

# Worker threads have their own database connections: they must see committed rows, and
# their writes must not wait for a test transaction that never ends.
pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 20
REQUESTS = 300
# Enough threads for the race, few enough for PostgreSQL's connection limit.
THREADS = 48
WINDOW_START = 1_800_000_000.0  # pins one throttle window for the whole burst


@pytest.fixture(params=["configured", "file"])
def cache_backend(request, settings, tmp_path):
    if request.param == "file":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    settings.API_KEY_FAILURES_PER_MINUTE = LIMIT
    cache.clear()
    yield request.param
    cache.clear()


def at_once(task: Callable[[int], Any], n: int = REQUESTS) -> list[Any]:
    """``task(0..n-1)`` on ``THREADS`` threads released together; each closes its connection."""
    start = threading.Barrier(min(THREADS, n), timeout=60)

    def run(i: int) -> Any:
        if i < THREADS:
            start.wait()
        try:
            return task(i)
        finally:
            connections.close_all()

    with (
        mock.patch("accounts.throttle.time.time", return_value=WINDOW_START + 1),
        ThreadPoolExecutor(THREADS) as pool,
    ):
        return list(pool.map(run, range(n)))


@contextmanager
def key_lookups() -> Iterator[list[str]]:
    """The SQL statements that read API keys, from every connection opened meanwhile."""
    seen: list[str] = []
    lock = threading.Lock()

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "api_apikey" in sql and sql.lstrip().upper().startswith("SELECT"):
            with lock:
                seen.append(sql)
        return execute(sql, params, many, context)

    def watch(sender: Any, connection: Any, **kwargs: Any) -> None:
        if wrapper not in connection.execute_wrappers:  # a thread's connection reopens
            connection.execute_wrappers.append(wrapper)

    connection_created.connect(watch)
    try:
        yield seen
    finally:
        connection_created.disconnect(watch)


def stats(key: str, ip: str = "203.0.113.7") -> int:
    response = Client(REMOTE_ADDR=ip).get(
        "/api/v1/stats", {"site": "nope", "period": "today"}, HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    return response.status_code


def test_racing_wrong_keys_get_at_most_the_limit_of_lookups(cache_backend):
    with key_lookups() as lookups:
        statuses = Counter(at_once(lambda i: stats(f"sa_guess-{i}")))
    assert statuses == {401: LIMIT, 429: REQUESTS - LIMIT}, cache_backend
    assert len(lookups) == LIMIT, cache_backend


def test_good_keys_that_race_give_their_count_back(cache_backend):
    owner = make_user()
    _, key = ApiKey.issue(user=owner, name="good")
    # Requests beyond the limit wait for places; how long is a bound (tested below), and
    # 48 threads of one interpreter are slow enough to reach it.
    with mock.patch.object(throttle, "RESERVE_WAIT_S", 60.0):
        statuses = Counter(at_once(lambda i: stats(key), n=100))
    # The site is not the owner's (404): the key was still found good.
    assert statuses == {404: 100}
    # The whole budget is left for wrong keys, then the address is refused.
    with mock.patch("accounts.throttle.time.time", return_value=WINDOW_START + 1):
        assert [stats(f"sa_guess-{i}") for i in range(LIMIT)] == [401] * LIMIT
        assert stats(key) == 429
        assert stats(key, ip="198.51.100.20") == 404


def test_a_caller_waits_for_held_places_at_most_the_bound(cache_backend):
    w = throttle.window("test", "client", 60)
    assert [throttle.reserve(w, 3, 60) for _ in range(3)] == [True] * 3
    with mock.patch.object(throttle, "RESERVE_WAIT_S", 0.05):
        assert not throttle.reserve(w, 3, 60)  # all held, none failed: waited, then refused
    throttle.release(w)
    assert throttle.reserve(w, 3, 60)
    for _ in range(3):
        throttle.confirm(w, 60)
    assert throttle.reached(w, 3)
    assert not throttle.reserve(w, 3, 60)


def test_racing_key_creations_stop_at_the_cap(cache_backend, settings):
    settings.API_KEYS_CREATED_PER_HOUR = 3
    user = make_user()

    def create(i: int) -> int:
        client = Client()
        client.force_login(user)
        return client.post("/account/api-keys/create/", {"name": f"k{i}"}).status_code

    assert set(at_once(create, n=30)) == {302}
    assert ApiKey.objects.filter(user=user).count() == 3
