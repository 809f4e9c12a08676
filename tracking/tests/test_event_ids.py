"""Client event ids: a beacon retried with the same id is stored and counted exactly once,
whichever process gets which copy, and an id is only remembered once its event committed."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection

from simple_analytics.testing import DESKTOP_UA, IPHONE_UA, make_website, site_of
from tracking import pipeline, statements
from tracking.groupcommit import GroupCommitter
from tracking.models import DropCount, Event, Session
from tracking.payload import from_dict
from tracking.writer import write_events

pytestmark = pytest.mark.django_db


class Spy:
    """A batch's reads and writes, passed on to the real ones; subclasses step in."""

    def __init__(self, inner: statements.Batch) -> None:
        self.inner = inner

    def read(self, **kwargs: Any) -> statements.Found:
        return self.inner.read(**kwargs)

    def write(self, *args: Any) -> None:
        self.inner.write(*args)


def spy(monkeypatch: pytest.MonkeyPatch, kind: type[Spy]) -> None:
    real = statements.for_connection()

    @contextlib.contextmanager
    def batch() -> Iterator[Spy]:
        with real.batch() as inner:
            yield kind(inner)

    spied = statements.Statements(batch=batch)
    monkeypatch.setattr(statements, "for_connection", lambda: spied)


def new_id() -> str:
    return str(uuid.uuid4())


def post(client, body: dict, *, ip: str = "198.51.100.20", ua: str = DESKTOP_UA):
    return client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=ua,
        REMOTE_ADDR=ip,
    )


def view(website, event_id: str | None, **extra) -> dict:
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://example.com/a"}
    if event_id is not None:
        body["id"] = event_id
    return {**body, **extra}


def duplicates(website) -> int:
    row = DropCount.objects.filter(website=website, reason="duplicate").first()
    return row.count if row else 0


def test_a_retry_with_the_same_id_is_answered_2xx_stored_once_and_counted(client):
    website = make_website()
    event_id = new_id()
    first = post(client, view(website, event_id))
    retry = post(client, view(website, event_id))
    assert (first.status_code, retry.status_code) == (202, 202)
    assert retry.content == b""  # the same answer as a stored event: the client stops
    assert Event.objects.count() == 1
    assert Session.objects.get().pageviews == 1
    assert duplicates(website) == 1


def test_a_retry_from_another_ip_is_recognised(client):
    """A phone switching from Wi-Fi to mobile data retries from a new address."""
    website = make_website()
    event_id = new_id()
    post(client, view(website, event_id), ip="198.51.100.21")
    post(client, view(website, event_id), ip="203.0.113.21")
    assert Event.objects.count() == 1
    assert duplicates(website) == 1


def test_an_exit_retried_is_stored_once_and_the_session_counts_it_once(client):
    website = make_website()
    post(client, view(website, new_id()))
    exit_id = new_id()
    for _ in range(3):
        body = view(website, exit_id, type="PAGE_EXIT", engaged_ms=1200)
        assert post(client, body).status_code == 202
    assert list(Event.objects.order_by("id").values_list("type", flat=True)) == [
        "PAGE_VIEW",
        "PAGE_EXIT",
    ]
    assert duplicates(website) == 2


def test_distinct_ids_are_distinct_events(client):
    website = make_website()
    post(client, view(website, new_id()))
    post(client, view(website, new_id()))
    assert Event.objects.count() == 2
    assert Session.objects.get().pageviews == 2
    assert duplicates(website) == 0


def test_events_without_an_id_are_never_taken_for_duplicates(client):
    """Old pixel.js copies send no id: identical bodies are two real page views."""
    website = make_website()
    post(client, view(website, None))
    post(client, view(website, None))
    post(client, view(website, ""))  # an empty id is no id
    assert list(Event.objects.values_list("dedup_key", flat=True)) == [None, None, None]
    assert Session.objects.get().pageviews == 3


def test_the_same_id_on_two_websites_is_two_events(client):
    a, b = make_website(domain="a.example"), make_website(domain="b.example")
    event_id = new_id()
    post(client, view(a, event_id, url="https://a.example/"))
    post(client, view(b, event_id, url="https://b.example/"))
    assert sorted(Event.objects.values_list("website_id", flat=True)) == sorted([a.id, b.id])
    assert DropCount.objects.count() == 0


def test_a_batch_holding_both_copies_stores_one():
    website = make_website()
    site = site_of(website)
    at = dt.datetime.now(dt.UTC)
    payload = from_dict(view(website, new_id()))
    events = [
        pipeline.run(payload, site=site, ip="198.51.100.22", user_agent=DESKTOP_UA, at=at)
        for _ in range(2)
    ]
    result = write_events(events)
    assert sorted(result.stored_flags) == [False, True]
    assert result.dropped_by_reason == {"duplicate": 1}
    assert Event.objects.count() == 1
    assert duplicates(website) == 1


def test_a_failed_write_remembers_nothing_and_its_retry_is_stored(client, monkeypatch):
    """The client got a 503: its retry with the same id must be stored, not dropped."""
    website = make_website()
    calls = []

    class FailingOnce(Spy):
        def write(self, *args: Any) -> None:
            calls.append(len(args[2]))  # the events to store
            if len(calls) == 1:
                raise OperationalError("server closed the connection unexpectedly")
            self.inner.write(*args)

    spy(monkeypatch, FailingOnce)
    event_id = new_id()
    failed = post(client, view(website, event_id))
    assert failed.status_code == 503
    assert failed["Retry-After"]
    assert json.loads(failed.content)["error"]
    assert (Event.objects.count(), Session.objects.count()) == (0, 0)

    retry = post(client, view(website, event_id))
    assert retry.status_code == 202
    assert Event.objects.count() == 1
    assert Session.objects.get().pageviews == 1
    assert duplicates(website) == 0
    assert calls == [1, 1]


@pytest.mark.django_db(transaction=True)
def test_copies_arriving_at_once_in_two_processes_are_stored_once():
    """Two web processes (two group committers, each its own writer thread and database
    connection) get the two copies at the same moment, many times over."""
    website = make_website()
    site = site_of(website)
    committers = [GroupCommitter(max_batch=50), GroupCommitter(max_batch=50)]
    rounds = 15
    answers: list[bool] = []
    errors: list[BaseException] = []
    for n in range(rounds):
        payload = from_dict(view(website, new_id(), url=f"https://example.com/p{n}"))
        at = dt.datetime.now(dt.UTC)
        copies = [
            pipeline.run(payload, site=site, ip="198.51.100.23", user_agent=IPHONE_UA, at=at)
            for _ in committers
        ]
        barrier = threading.Barrier(len(committers))

        def send(committer: GroupCommitter, event, barrier: threading.Barrier) -> None:
            try:
                barrier.wait()
                answers.append(committer.submit(event, timeout=20))
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        threads = [
            threading.Thread(target=send, args=(committer, event, barrier))
            for committer, event in zip(committers, copies, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert sorted(answers) == [False] * rounds + [True] * rounds
    assert Event.objects.count() == rounds
    assert Session.objects.get().pageviews == rounds
    assert duplicates(website) == rounds


@pytest.mark.django_db(transaction=True)
def test_copies_from_two_visitor_ids_racing_past_the_check_are_stored_once(monkeypatch):
    """The copies come from two IPs, so the per-visitor lock does not order them: both
    writers run the duplicate check before either commits (forced here). On PostgreSQL the
    unique index refuses the later insert and ``write_events`` tries again, finding the
    other copy; SQLite's single write lock orders them anyway."""
    website = make_website()
    site = site_of(website)
    at = dt.datetime.now(dt.UTC)
    payload = from_dict(view(website, new_id()))
    copies = [
        pipeline.run(payload, site=site, ip=ip, user_agent=IPHONE_UA, at=at)
        for ip in ("198.51.100.24", "203.0.113.24")
    ]
    assert copies[0].visitor_id != copies[1].visitor_id
    assert copies[0].dedup_key == copies[1].dedup_key

    checked = threading.Barrier(2)
    checks: list[set[int]] = []

    class CheckThenWait(Spy):
        def read(self, **kwargs: Any) -> statements.Found:
            found = self.inner.read(**kwargs)
            checks.append(set(found.stored_keys))  # a copy: the writer adds to its own
            if len(checks) <= 2:  # the first check of each writer waits for the other's
                try:
                    checked.wait(timeout=2)
                except threading.BrokenBarrierError:
                    pass  # SQLite: the other writer waits for our commit to begin at all
            return found

    spy(monkeypatch, CheckThenWait)
    results: list[bool] = []
    errors: list[BaseException] = []

    def one(event) -> None:
        try:
            results.append(write_events([event]).stored_flags[0])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(event,)) for event in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [False, True]
    assert Event.objects.count() == 1
    assert duplicates(website) == 1
    if connection.vendor == "postgresql":
        # Both passed the check with nothing found, and the loser checked again.
        assert checks[:2] == [set(), set()] and len(checks) == 3, checks
