"""``/api/event`` answered on the front's event loop: what memory can answer is answered there,
what would wait goes to a thread from the step it reached, and the answers are those of
every other door (202 only after the commit, 4xx for bad input, 503 when the database is
gone, rate limits counted once)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any, cast

import pytest

from core import blocking
from simple_analytics.testing import IPHONE_UA, make_website, site_of
from simple_analytics.tests.test_slow_clients import FakeProto, FakeScope, Recorder, make_front
from tracking import collect, groupcommit, identity, pipeline, ratelimit
from tracking.groupcommit import GroupCommitter, IngestUnavailable
from tracking.models import Event
from tracking.payload import from_dict
from websites.selectors import tracked_site_forget, tracked_site_get


class CountingFront:
    """The production ``ingest_async`` behind a front whose thread hand-offs are counted."""

    def __init__(self) -> None:
        from simple_analytics.wsgi import ingest_async

        self.app = Recorder()
        self.front = make_front(self.app, ingest=ingest_async, max_body_bytes=10_000)
        self.handed_off = 0
        to_thread = self.front.in_thread

        async def counted(call: Any) -> Any:
            self.handed_off += 1
            return await to_thread(call)

        self.front.in_thread = counted

    async def ask(self, body: dict[str, Any] | bytes, method: str = "POST") -> FakeProto:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = [("content-type", "text/plain"), ("content-length", str(len(data)))]
        headers.append(("user-agent", IPHONE_UA))
        proto = FakeProto(data)
        await self.front.__rsgi__(FakeScope(method, "/api/event", headers), proto)
        return proto


@pytest.fixture
def grouped(monkeypatch: pytest.MonkeyPatch) -> GroupCommitter:
    """The production layout: a writer thread commits, requests wait for it."""
    committer = GroupCommitter(max_batch=50)
    committer.idle_close_s = 0.05  # hand the connection back before the database is dropped
    monkeypatch.setattr(collect, "COMMITTER", committer)
    tracked_site_forget()
    identity.forget_salts()
    return committer


@pytest.mark.django_db(transaction=True)
def test_a_warm_event_is_answered_on_the_loop_and_stored_before_its_202(grouped):
    website = make_website()
    client = CountingFront()
    page = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/a"}

    async def scenario() -> tuple[FakeProto, FakeProto, int, int]:
        cold = await client.ask(page)  # the site and the salts are not cached yet
        after_cold = client.handed_off
        # 202 means committed: the row is there the moment the answer is.
        warm = await client.ask({**page, "url": "https://example.com/b"})
        stored = await asyncio.to_thread(
            lambda: Event.objects.filter(website=website, path="/b").count()
        )
        return cold, warm, after_cold, stored

    cold, warm, after_cold, stored = asyncio.run(scenario())
    assert (cold.status, warm.status) == (202, 202)
    assert after_cold == 1 and client.handed_off == 1  # only the cold one took a thread
    assert stored == 1 and client.app.calls == 0  # never through Django
    assert ("Access-Control-Allow-Origin", "*") in warm.headers
    assert Event.objects.filter(website=website).count() == 2


@pytest.mark.django_db(transaction=True)
def test_bad_input_is_answered_on_the_loop_as_on_every_other_door(grouped):
    website = make_website()
    client = CountingFront()

    async def scenario() -> list[FakeProto]:
        return [
            await client.ask(b"{not json"),
            await client.ask({"site": website.tracking_id, "type": "NOPE", "url": "https://x.y/"}),
            await client.ask(b"", method="OPTIONS"),
            await client.ask(b"", method="GET"),
        ]

    bad_json, bad_type, preflight, get = asyncio.run(scenario())
    assert (bad_json.status, json.loads(bad_json.sent)) == (
        400,
        {"error": "body is not valid JSON"},
    )
    assert bad_type.status == 400 and "type must be one of" in json.loads(bad_type.sent)["error"]
    assert preflight.status == 204 and get.status == 405
    assert client.handed_off == 0 and Event.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_unknown_site_is_looked_up_in_a_thread_and_refused(grouped):
    client = CountingFront()
    body = {"site": "nosuchsite1", "type": "PAGE_VIEW", "url": "https://example.com/"}
    answer = asyncio.run(client.ask(body))
    assert answer.status == 400 and json.loads(answer.sent) == {
        "error": "unknown or inactive site id"
    }
    assert client.handed_off == 1


@pytest.mark.django_db(transaction=True)
def test_an_event_the_database_cannot_take_is_answered_503_at_its_deadline(grouped, monkeypatch):
    website = make_website()
    event = pipeline.run(
        from_dict(
            {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/"}
        ),
        site=site_of(website),
        ip="203.0.113.7",
        user_agent=IPHONE_UA,
        at=dt.datetime.now(dt.UTC),
    )
    assert not isinstance(event, str)
    monkeypatch.setattr(grouped, "_ensure_thread", lambda: None)  # no writer: never taken
    grouped._unreachable_since = time.monotonic()  # what a writer's failed connect records

    async def submit() -> float:
        started = time.monotonic()
        with pytest.raises(IngestUnavailable):
            await grouped.submit_async(event, timeout=0.2)
        return time.monotonic() - started

    waited = asyncio.run(submit())
    assert 0.2 <= waited < 1.5
    (pending,) = list(grouped._queue.queue)
    assert pending.take() is False  # a writer arriving later skips it: never stored


def test_caches_raise_instead_of_waiting_and_answer_from_memory_when_warm(db):
    website = make_website()
    tracked_site_forget()
    identity.forget_salts()
    day = dt.date(2026, 12, 5)
    with blocking.forbidden(), pytest.raises(blocking.WouldBlock):
        tracked_site_get(website.tracking_id)
    with blocking.forbidden(), pytest.raises(blocking.WouldBlock):
        identity.salt_for(day)
    site, salt = tracked_site_get(website.tracking_id), identity.salt_for(day)
    with blocking.forbidden():
        assert tracked_site_get(website.tracking_id) == site
        assert identity.salt_for(day) == salt


def test_a_rate_limit_batch_for_redis_is_refused_before_anything_is_counted():
    counters = ratelimit._Counters()
    redis: Any = object()  # never used: the refusal comes first
    # Far from the limits: counted in memory, no round trip needed.
    assert counters.count(7, "ip", "site", 10_000, 10_000, redis) == 0
    with blocking.forbidden():
        assert counters.count(7, "ip", "site", 10_000, 10_000, redis) == 0
        # Near a limit every event goes to Redis: refused, and nothing changed.
        before = {key: list(value) for key, value in counters._counters.items()}
        with pytest.raises(blocking.WouldBlock):
            counters.count(7, "ip2", "site", 3, 10_000, redis)
        assert counters._counters == before


def test_a_rate_limit_check_that_would_wait_is_handed_on_not_taken_for_a_cache_failure(
    monkeypatch, settings
):
    """A batch for Redis on the loop raises ``WouldBlock`` through ``check``: the limiter
    must not mistake it for a failing cache and switch itself off."""
    settings.INGEST_RATE_LIMIT_IP = 3
    ratelimit.resume()

    def needs_redis(*args: Any) -> int:
        blocking.check()
        return 0

    monkeypatch.setattr(ratelimit, "_count", needs_redis)
    with blocking.forbidden(), pytest.raises(blocking.WouldBlock):
        ratelimit.check("203.0.113.5", "abc", now=1_000_000.0)
    assert ratelimit._paused_until < 1_000_000.0  # still limiting


def test_on_the_loop_a_rate_limit_batch_far_from_its_limit_is_added_in_the_background(
    monkeypatch,
):
    counters = ratelimit._Counters()
    added: list[tuple[str, list[int]]] = []

    def add(window: int, ip_key: str, site_key: str, deltas: list[int], backend: Any) -> list[int]:
        added.append((site_key, list(deltas)))
        return deltas

    monkeypatch.setattr(counters, "_add", add)  # the round trip to Redis
    redis: Any = object()
    with blocking.forbidden():
        # 10,000 a minute: a batch every 50 events, none of them deciding an answer.
        answers = [counters.count(7, f"ip{n}", "site", 10_000, 10_000, redis) for n in range(60)]
    ratelimit._pool[0][1].submit(lambda: None).result()  # the background thread is done
    assert answers == [0] * 60 and added == [("site", [0, 50])]
    assert counters._counters["site"] == [50, 10]


def test_a_batch_of_waiters_on_one_loop_is_woken_with_one_call(grouped, monkeypatch):
    async def scenario() -> tuple[list[bool], list[Any]]:
        loop = asyncio.get_running_loop()
        calls: list[Any] = []
        real = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any) -> Any:
            calls.append(callback)
            return real(callback, *args)

        monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
        dones = [groupcommit._LoopDone(loop) for _ in range(5)]
        batch = [groupcommit._Pending(cast(Any, None), done) for done in dones]  # not read
        await asyncio.to_thread(groupcommit._settle, batch)
        return [await done.wait(1.0) for done in dones], calls

    woken, calls = asyncio.run(scenario())
    # Besides the one wake-up, only to_thread's own hand-back crosses to the loop.
    assert woken == [True] * 5
    assert [c for c in calls if c in (groupcommit._resolve, groupcommit._resolve_all)] == [
        groupcommit._resolve_all
    ]


def test_the_host_check_remembers_allowed_hosts_only_and_follows_the_setting(settings, caplog):
    from simple_analytics.wsgi import check_host

    settings.ALLOWED_HOSTS = ["example.com"]
    good = {"HTTP_HOST": "example.com", "SERVER_NAME": "x", "SERVER_PORT": "80"}
    bad = {**good, "HTTP_HOST": "evil.example"}
    assert check_host(good) is None and check_host(good) is None
    with caplog.at_level("ERROR", logger="django.security.DisallowedHost"):
        answers = [check_host(bad) for _ in range(2)]
    assert [a.status if a else None for a in answers] == [400, 400]
    assert len(caplog.records) == 2  # every refusal is logged
    settings.ALLOWED_HOSTS = ["other.example"]
    assert check_host(good) is not None
