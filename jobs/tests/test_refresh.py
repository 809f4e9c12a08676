"""Ingestion enqueues a debounced per-website refresh: one pending job per burst."""

from __future__ import annotations

import json
import time

import pytest

from jobs import tasks
from simple_analytics.testing import DESKTOP_UA, make_website
from tracking import collect
from websites.models import Website

pytestmark = pytest.mark.django_db


def send(client, website, path="/"):
    body = {
        "site": website.tracking_id,
        "type": "PAGE_VIEW",
        "url": f"https://{website.domain}{path}",
    }
    response = client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
    )
    assert response.status_code == 202


def refresh_jobs(huey):
    return [t for t in huey.scheduled() + huey.pending() if t.name.endswith("refresh_website")]


def test_a_burst_of_events_enqueues_one_refresh_per_website(client, real_queue):
    a, b = make_website(domain="a.example"), make_website(domain="b.example")
    for i in range(30):
        tasks._recently_requested.clear()  # prove the queue flag alone debounces, across processes
        send(client, a, f"/{i}")
    send(client, b)
    jobs = refresh_jobs(real_queue)
    assert sorted(job.args for job in jobs) == sorted([(a.id,), (b.id,)])


def test_the_refresh_job_records_the_first_event_and_rearms_the_debounce(client, real_queue):
    website = make_website()
    assert website.first_event_at is None
    send(client, website)
    (job,) = refresh_jobs(real_queue)
    # What the consumer runs, minus huey's connection handling (which would close the
    # test's transaction).
    tasks.refresh_website.call_local(*job.args)
    website.refresh_from_db()
    assert website.first_event_at is not None
    # The job cleared its flag: the next burst schedules a new refresh (the executed job
    # object is still listed because it was run by hand, not taken by a consumer).
    tasks._recently_requested.clear()
    send(client, website, "/again")
    send(client, website, "/again-and-again")
    assert [job.args for job in refresh_jobs(real_queue)] == [(website.id,), (website.id,)]
    assert Website.objects.get(id=website.id).first_event_at == website.first_event_at


def test_the_sweep_rearms_a_flag_left_without_a_job(client, real_queue):
    orphan, busy = make_website(domain="a.example"), make_website(domain="b.example")
    real_queue.put(tasks._flag(orphan.id), "1")  # a consumer died after setting it
    send(client, busy)  # flag set and its job scheduled
    tasks.sweep_refresh_flags.call_local()
    assert real_queue.get(tasks._flag(orphan.id), peek=True) is None
    assert real_queue.get(tasks._flag(busy.id), peek=True) is not None


def test_a_refresh_finding_another_running_runs_again_after_it_instead_of_dropping(
    client, real_queue
):
    website = make_website()
    send(client, website)
    (job,) = refresh_jobs(real_queue)
    assert tasks._refresh_lock(website.id)  # another consumer is refreshing this website
    try:
        tasks.refresh_website.call_local(*job.args)
    finally:
        tasks._refresh_unlock(website.id)
    assert Website.objects.get(id=website.id).first_event_at is None  # not run alongside
    # Scheduled again, behind a set flag (the run job is still listed, see above).
    assert [j.args for j in refresh_jobs(real_queue)] == [(website.id,), (website.id,)]
    assert real_queue.get(tasks._flag(website.id), peek=True) is not None
    tasks.refresh_website.call_local(*job.args)
    assert Website.objects.get(id=website.id).first_event_at is not None


def test_a_refresh_lock_left_by_a_killed_consumer_expires(client, real_queue, monkeypatch):
    website = make_website()
    send(client, website)
    (job,) = refresh_jobs(real_queue)
    monkeypatch.setattr(tasks, "REFRESH_LOCK_SECONDS", 1)
    assert tasks._refresh_lock(website.id)  # taken, then the consumer was SIGKILLed
    time.sleep(1.2)
    tasks.refresh_website.call_local(*job.args)
    assert Website.objects.get(id=website.id).first_event_at is not None
    assert tasks._refresh_lock(website.id)  # the job released it
    tasks._refresh_unlock(website.id)


def test_the_jobs_app_hooks_the_refresh_request_to_ingestion_commits() -> None:
    # Set by JobsConfig.ready(): tracking itself does not import jobs.
    assert collect.COMMITTER.on_commit is tasks.request_refresh


@pytest.mark.django_db
def test_the_refresh_job_publishes_new_versions_only_once_their_answers_are_cached(
    client, settings, monkeypatch
):
    """A reader that sees the new versions finds the warmed answers: none computes."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from stats import cache as stats_cache
    from stats import queries
    from stats.periods import from_query

    settings.STATS_CACHE = True
    cache.clear()
    website = make_website()
    send(client, website)
    publish = stats_cache.publish_versions
    reads: list[int] = []

    def publish_then_read(website_id: int) -> str:
        value = publish(website_id)
        stats_cache.forget()  # another process: it learns the versions from the cache
        period = from_query({"period": "today"}, website.tz)
        with CaptureQueriesContext(connection) as captured:
            data = queries.dashboard(website, period, limit=tasks.WARM_LIMIT)
        reads.append(len(captured.captured_queries))
        assert data["summary"].pageviews == 1
        return value

    monkeypatch.setattr(stats_cache, "publish_versions", publish_then_read)
    tasks.refresh(website)
    assert reads == [0]
    cache.clear()
