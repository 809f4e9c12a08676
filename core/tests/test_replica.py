"""Which requests read the replica: the middleware's flag and the router's answers (the
real streaming replica is exercised by systemtests/cluster.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from core import replica
from tracking.models import Event

ROUTER = replica.ReplicaRouter()
pytestmark = pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")


def with_replica(settings_databases):
    # Only the alias's presence is read (replica.configured); no connection is opened.
    return override_settings(
        DATABASES={**settings_databases, replica.REPLICA: settings_databases["default"]}
    )


def answer(request: HttpRequest) -> tuple[bool, str, HttpResponse]:
    seen: dict[str, object] = {}

    def view(r: HttpRequest) -> HttpResponse:
        seen["reading"] = replica.reading()
        seen["db"] = ROUTER.db_for_read(Event)
        return HttpResponse("ok")

    response = replica.ReplicaReadsMiddleware(view)(request)
    return bool(seen["reading"]), str(seen["db"]), response


@pytest.mark.django_db(transaction=True)  # requests run outside a transaction
def test_only_reads_without_a_recent_write_go_to_the_replica(settings):
    rf = RequestFactory()
    with with_replica(settings.DATABASES):
        assert answer(rf.get("/websites/1/"))[:2] == (True, replica.REPLICA)
        reading, db, response = answer(rf.post("/websites/1/goals/"))
        assert (reading, db) == (False, DEFAULT_DB_ALIAS)
        assert response.cookies[replica.WROTE_COOKIE]["max-age"] == replica.READ_YOUR_WRITES_SECONDS
        after_write = rf.get("/websites/1/goals/")
        after_write.COOKIES[replica.WROTE_COOKIE] = "1"
        assert answer(after_write)[:2] == (False, DEFAULT_DB_ALIAS)
    # Not configured: every request reads the primary, no cookie.
    reading, db, response = answer(rf.get("/websites/1/"))
    assert (reading, db) == (False, DEFAULT_DB_ALIAS)
    assert replica.WROTE_COOKIE not in answer(rf.post("/x/"))[2].cookies
    assert replica.reading() is False  # nothing leaks past the request


@pytest.mark.django_db(transaction=True)  # requests run outside a transaction
def test_writes_transactions_and_a_replica_behind_use_the_primary(settings):
    rf = RequestFactory()

    def view(r: HttpRequest) -> HttpResponse:
        assert ROUTER.db_for_write(Event) == DEFAULT_DB_ALIAS
        with transaction.atomic():
            assert ROUTER.db_for_read(Event) == DEFAULT_DB_ALIAS
        assert ROUTER.db_for_read(Event) == replica.REPLICA
        assert replica.first_check(7) and not replica.first_check(7)
        replica.use_primary()
        assert ROUTER.db_for_read(Event) == DEFAULT_DB_ALIAS
        return HttpResponse("ok")

    with with_replica(settings.DATABASES):
        assert replica.ReplicaReadsMiddleware(view)(rf.get("/")).status_code == 200
    assert ROUTER.allow_migrate(replica.REPLICA, "tracking") is False
    assert ROUTER.allow_migrate(DEFAULT_DB_ALIAS, "tracking") is True


@pytest.mark.django_db(transaction=True)  # requests run outside a transaction
def test_the_stats_cache_reads_the_primary_when_the_replica_lacks_the_published_versions(
    settings, monkeypatch
):
    from simple_analytics.testing import make_website
    from stats import cache as stats_cache

    website = make_website()
    primary = stats_cache._stored_versions(website.id)
    on_replica = {"value": primary}
    stored = stats_cache._stored_versions

    def versions_on(website_id: int, using: str = DEFAULT_DB_ALIAS) -> str:
        return on_replica["value"] if using == replica.REPLICA else stored(website_id, using)

    monkeypatch.setattr(stats_cache, "_stored_versions", versions_on)
    rf = RequestFactory()
    seen = []

    def view(r: HttpRequest) -> HttpResponse:
        stats_cache.versions(website.id)
        seen.append(replica.reading())
        return HttpResponse("ok")

    stats_cache.forget()
    cache.clear()  # a version published by an earlier test's website of the same id
    with with_replica(settings.DATABASES):
        replica.ReplicaReadsMiddleware(view)(rf.get("/"))  # replayed: stays on the replica
        on_replica["value"] = "-1.-1"  # a refresh published that the replica has not replayed
        replica.ReplicaReadsMiddleware(view)(rf.get("/"))
    stats_cache.forget()
    assert seen == [True, False]
