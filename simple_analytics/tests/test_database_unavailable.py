"""Reads while PostgreSQL's connection pool has no connection to give: 503, not 500.

Under CPU contention (the soak beside another test suite) every pooled connection can be
busy for longer than ``DB_POOL_TIMEOUT``; the pool then raises ``PoolTimeout`` in the
session middleware or in the view. The client is told to retry, and the same request is
answered normally once a connection is free.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from api.models import ApiKey
from simple_analytics.testing import make_user, make_website


def _in_another_thread(call):
    """Run ``call`` in a thread of its own: it borrows its own pooled connection, as a
    request thread of the server does."""
    result = {}

    def run() -> None:
        try:
            result["response"] = call()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return result["response"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reads_answer_503_with_retry_after_while_the_pool_is_exhausted(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's")
    from psycopg_pool import PoolTimeout

    settings.DEBUG = False
    user = make_user()
    website = make_website(owner=user)
    _, key = ApiKey.issue(user=user, name="test")
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {key}")
    page = f"/websites/{website.pk}/"
    stats = f"/api/v1/stats?site={website.tracking_id}&period=7d"
    connection.close()
    pool = connection.pool
    held = []
    try:
        while True:  # borrow every connection the pool will ever give
            try:
                held.append(pool.getconn(timeout=0.5))
            except PoolTimeout:
                break
        assert held
        busy_page = _in_another_thread(lambda: browser.get(page))
        busy_api = _in_another_thread(lambda: api.get(stats))
    finally:
        for conn in held:
            pool.putconn(conn)
    assert busy_page.status_code == 503
    assert busy_page["Retry-After"] == "5"
    assert "Temporarily unavailable" in busy_page.content.decode()
    assert busy_api.status_code == 503
    assert busy_api["Retry-After"] == "5"
    assert busy_api.json() == {"error": "temporarily unavailable, retry later"}
    # A connection is free again: the same requests are answered.
    assert _in_another_thread(lambda: browser.get(page)).status_code == 200
    assert _in_another_thread(lambda: api.get(stats)).status_code == 200
