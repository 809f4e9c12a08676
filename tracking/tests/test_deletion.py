"""A website's raw data goes with it, whichever deletion takes it (the website, its team,
its owner), in statements whose number does not grow with the site's traffic."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.db.models.signals import pre_delete
from django.test.utils import CaptureQueriesContext

from simple_analytics.testing import make_user, make_website, record_events
from teams.services import team_create, team_delete
from tracking.models import Event, Session
from websites.models import Website
from websites.services import website_create, website_delete

pytestmark = pytest.mark.django_db


def visits(website: Website, count: int) -> None:
    """``count`` sessions of two page views each, from ``count`` visitors."""
    at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    url = f"https://{website.domain}/"
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": url + page, "ip": f"203.0.113.{n}", "at": at}
            for n in range(1, count + 1)
            for page in ("", "pricing")
        ],
    )


def deleting(website: Website) -> list[str]:
    """The statements of ``website_delete`` that touch the raw tables."""
    pk = str(website.pk)
    with CaptureQueriesContext(connection) as queries:
        website_delete(website=website)
    return [
        q["sql"].replace(pk, "ID")
        for q in queries.captured_queries
        if "tracking_session" in q["sql"] or "tracking_event" in q["sql"]
    ]


def test_deleting_a_website_takes_its_raw_data_without_reading_it():
    owner = make_user()
    small, busy, kept = (
        make_website(owner, domain) for domain in ("small.example", "busy.example", "kept.example")
    )
    visits(small, 2)
    visits(busy, 40)
    visits(kept, 3)
    assert Session.objects.filter(website=busy).count() == 40

    statements = deleting(busy)
    # Deletes by website (again once the website is locked): no session or event is read
    # into Python, whatever the count.
    assert len(statements) == 4
    assert all(sql.startswith("DELETE") and "website_id" in sql for sql in statements)
    assert deleting(small) == statements
    for gone in (small, busy):
        assert not Session.objects.filter(website_id=gone.pk).exists()
        assert not Event.objects.filter(website_id=gone.pk).exists()
    assert Session.objects.filter(website=kept).count() == 3
    assert Event.objects.filter(website=kept).count() == 6


def test_a_deleted_team_or_user_takes_the_raw_data_of_its_websites():
    owner = make_user()
    team = team_create(user=owner, name="Agency")
    in_team = website_create(owner=owner, team=team, domain="client.example")
    personal = make_website(owner, "own.example")
    other = make_website(make_user(), "other.example")
    for website in (in_team, personal, other):
        visits(website, 2)

    team_delete(team=team)
    assert not Session.objects.filter(website_id=in_team.pk).exists()
    assert not Event.objects.filter(website_id=in_team.pk).exists()
    assert Event.objects.filter(website_id=personal.pk).count() == 4

    owner.delete()  # the admin's way: the personal team and its websites go with the user
    assert not Website.objects.filter(pk=personal.pk).exists()
    assert not Event.objects.filter(website_id=personal.pk).exists()
    assert not Session.objects.filter(website_id=personal.pk).exists()
    assert Event.objects.filter(website=other).count() == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_committed_while_its_website_is_deleted_cannot_fail_the_deletion():
    """A web process that still knows the website writes to it while it is deleted. The
    deletion locks the website row: the writer's commit waits for it, then finds the
    website gone, instead of the deletion finding a session it did not delete."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    website = make_website(make_user(), "doomed.example")
    visits(website, 2)
    website_id = website.pk
    failures: list[BaseException] = []

    def late_visit() -> None:
        try:  # a new visitor: a new session, whose foreign key needs the website
            at = dt.datetime.now(dt.UTC)
            record_events(website, [{"type": "PAGE_VIEW", "ip": "198.51.100.9", "at": at}])
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    def meanwhile(sender: type, instance: Website, **_: object) -> None:
        writer = threading.Thread(target=late_visit)
        writer.start()
        writer.join(timeout=1.0)  # it finishes at once unless the deletion holds it back
        threads.append(writer)

    threads: list[threading.Thread] = []
    pre_delete.connect(meanwhile, sender=Website, dispatch_uid="test-late-visit")
    try:
        website_delete(website=website)
    finally:
        pre_delete.disconnect(dispatch_uid="test-late-visit", sender=Website)
        for thread in threads:
            thread.join()
    assert [type(exc).__name__ for exc in failures] == ["IntegrityError"], failures
    assert not Website.objects.filter(pk=website_id).exists()
    assert not Session.objects.filter(website_id=website_id).exists()
    assert not Event.objects.filter(website_id=website_id).exists()
