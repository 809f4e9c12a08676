"""Rollup jobs: idempotent, crash-safe, concurrent-safe; late data repairs closed buckets;
retention deletes only rolled-up data; the refresh job makes the next read a cache hit."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import threading
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.calendar import local_midnight, next_month
from jobs import tasks
from jobs.models import JobRun
from rollups import fill, retention
from rollups.models import (
    Granularity,
    OpenPart,
    OpenRecord,
    OpenRow,
    Snapshot,
    SnapshotRow,
    Watermark,
)
from simple_analytics.testing import DESKTOP_UA, IPHONE_UA, make_user, make_website, record_events
from stats import cache as stats_cache
from stats import planner, queries
from stats.dimensions import BREAKDOWNS
from stats.periods import for_days, from_query
from tracking.models import Event, Session

NOW = timezone.now().replace(minute=20, second=0, microsecond=0)


def _traffic(website, days=10, per_day=6):
    events = []
    for d in range(days, 0, -1):
        for i in range(per_day):
            at = NOW - dt.timedelta(days=d, hours=i * 3, minutes=7)
            ua = IPHONE_UA if i % 2 else DESKTOP_UA
            events.append(
                {
                    "type": "PAGE_VIEW",
                    "at": at,
                    "ip": f"192.0.2.{i}",
                    "user_agent": ua,
                    "url": f"https://{website.domain}/p{i % 3}?utm_source=n{i % 2}",
                    "referrer": "https://www.google.com/" if i % 3 else "",
                }
            )
            events.append(
                {
                    "type": "PATH_CHANGE",
                    "at": at + dt.timedelta(minutes=2),
                    "ip": f"192.0.2.{i}",
                    "user_agent": ua,
                    "url": f"https://{website.domain}/next",
                }
            )
    events.sort(key=lambda e: e["at"])
    record_events(website, events)


def _state(website):
    """Everything the rollups stored for a website (minus when it was computed)."""
    snaps = sorted(
        Snapshot.objects.filter(website=website).values_list(
            "granularity",
            "start",
            "pageviews",
            "visitors",
            "sessions",
            "bounces",
            "duration_s",
            "session_pageviews",
            "exits",
        )
    )
    rows = sorted(
        SnapshotRow.objects.filter(website=website).values_list(
            "granularity",
            "start",
            "dimension",
            "value",
            "pageviews",
            "visitors",
            "sessions",
            "bounces",
            "duration_s",
            "exits",
        )
    )
    marks = sorted(
        Watermark.objects.filter(website=website).values_list("granularity", "closed_until")
    )
    return snaps, rows, marks


def _roll(website, now=NOW):
    return sum(fill.rollup(website, g, now=now) for g in (Granularity.HOUR, Granularity.DAY))


def _from_scratch(website):
    Snapshot.objects.filter(website=website).delete()
    SnapshotRow.objects.filter(website=website).delete()
    Watermark.objects.filter(website=website).delete()
    _roll(website)
    return _state(website)


@pytest.mark.django_db
def test_a_rerun_is_a_no_op_and_closes_only_finished_buckets():
    website = make_website(timezone="Europe/Berlin")
    _traffic(website)
    assert _roll(website) > 0
    first = _state(website)
    assert _roll(website) == 0
    assert _state(website) == first
    hour = Watermark.objects.get(website=website, granularity=Granularity.HOUR)
    # An hour closes once it ended SESSION_IDLE_MINUTES ago: 20 past -> the hour before last.
    assert hour.closed_until == NOW.replace(minute=0) - dt.timedelta(hours=1)
    day = Watermark.objects.get(website=website, granularity=Granularity.DAY)
    assert (
        day.closed_until == local_midnight(NOW.astimezone(website.tz).date(), website.tz)
        or NOW.astimezone(website.tz).hour == 0
    )


@pytest.mark.django_db
def test_a_rollup_killed_mid_bucket_and_rerun_gives_the_from_scratch_result(monkeypatch):
    website = make_website(timezone="America/New_York")
    _traffic(website)
    real = SnapshotRow.objects.bulk_create
    calls = {"n": 0}

    def dies_on_the_fifth_bucket(rows, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            real(rows[: len(rows) // 2], **kw)  # half written, then the process "dies"
            raise KeyboardInterrupt("killed")
        return real(rows, **kw)

    monkeypatch.setattr(SnapshotRow.objects, "bulk_create", dies_on_the_fifth_bucket)
    with pytest.raises(KeyboardInterrupt):
        _roll(website)
    monkeypatch.setattr(SnapshotRow.objects, "bulk_create", real)
    _roll(website)
    recovered = _state(website)
    assert recovered == _from_scratch(website)
    assert recovered[0], "snapshots were written"


@pytest.mark.django_db(transaction=True)
def test_concurrent_rollups_change_nothing():
    website = make_website(timezone="Asia/Kolkata")
    _traffic(website, days=4)
    errors = []

    def run():
        try:
            _roll(website)
        except Exception as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    together = _state(website)
    assert together == _from_scratch(website)


@pytest.mark.django_db
def test_a_session_going_on_after_its_day_closed_is_repaired():
    website = make_website(timezone="UTC")
    midnight = local_midnight(NOW.date(), website.tz)  # today's
    at = [midnight - dt.timedelta(minutes=10), midnight + dt.timedelta(minutes=15)]
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "at": t, "url": f"https://example.com/{p}"}
            for t, p in zip(at, "ab", strict=True)
        ],
    )
    _roll(website, now=midnight + dt.timedelta(minutes=31))  # yesterday closes
    y = for_days(NOW.date() - dt.timedelta(days=1), NOW.date() - dt.timedelta(days=1), website.tz)
    assert queries.breakdown(website, y, "exit_pages")[0].value == "/b"
    # The visitor is still there at 00:40: the same session, started yesterday, goes on.
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "at": midnight + dt.timedelta(minutes=40),
                "url": "https://example.com/c",
            }
        ],
    )
    assert Session.objects.filter(website=website).count() == 1
    later = midnight + dt.timedelta(minutes=45)
    assert fill.find_late(website, now=later)
    _roll(website, now=later)
    with planner.raw_only():
        expected = (queries.summary(website, y), queries.breakdown(website, y, "exit_pages"))
    assert (queries.summary(website, y), queries.breakdown(website, y, "exit_pages")) == expected
    assert expected[1][0].value == "/c" and expected[0].session_pageviews == 3


@pytest.mark.django_db
def test_retention_deletes_only_rolled_up_raw_data_and_old_snapshots():
    website = make_website()
    other = make_website(domain="never-rolled.example")
    old = NOW - dt.timedelta(days=40)
    for site in (website, other):
        record_events(
            site,
            [
                {"type": "PAGE_VIEW", "at": old, "url": f"https://{site.domain}/"},
                {
                    "type": "PAGE_VIEW",
                    "at": NOW - dt.timedelta(days=1),
                    "url": f"https://{site.domain}/",
                },
            ],
        )
    _roll(website)
    stale = Snapshot.objects.create(
        website=website,
        granularity=Granularity.DAY,
        start=NOW - dt.timedelta(days=800),
        computed_at=NOW,
        pageviews=1,
    )
    period = for_days((old - dt.timedelta(days=1)).date(), NOW.date(), website.tz)
    before = queries.summary(website, period)
    pruned = retention.prune(now=NOW)
    assert pruned.sessions == 1 and pruned.events == 1
    assert Event.objects.filter(website=website).count() == 1  # yesterday's
    assert Event.objects.filter(website=other).count() == 2  # not rolled up: kept
    assert not Snapshot.objects.filter(id=stale.id).exists()
    assert not Snapshot.objects.filter(
        website=website, granularity=Granularity.HOUR, start__lt=NOW - dt.timedelta(days=7)
    ).exists()
    assert queries.summary(website, period) == before
    assert queries.has_data(website)


@pytest.fixture
def stats_cache_on(settings):
    settings.STATS_CACHE = True
    cache.clear()
    stats_cache.forget()
    yield
    with contextlib.suppress(Exception):  # a test may have pointed the cache at nothing
        cache.clear()


def _send(client, website, path, ip):
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": f"https://example.com{path}"}
    response = client.generic(
        "POST",
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        REMOTE_ADDR=ip,
    )
    assert response.status_code == 202


@pytest.mark.django_db
def test_after_a_burst_one_refresh_runs_and_the_next_read_is_a_cache_hit_with_the_burst(
    client, real_queue, stats_cache_on
):
    website = make_website()
    today = from_query({"period": "today"}, website.tz)
    assert queries.summary(website, today).pageviews == 0  # cached: empty
    for i in range(12):
        _send(client, website, f"/{i % 4}", f"203.0.113.{i % 5}")
    jobs = [
        t
        for t in real_queue.scheduled() + real_queue.pending()
        if t.name.endswith("refresh_website")
    ]
    assert len(jobs) == 1
    tasks.refresh_website.call_local(*jobs[0].args)
    stats_cache.forget()  # another process: nothing memoised
    with CaptureQueriesContext(connection) as queries_run:
        data = queries.dashboard(website, from_query({"period": "today"}, website.tz))
    assert len(queries_run) == 0, [q["sql"] for q in queries_run]
    assert data["summary"].pageviews == 12 and data["summary"].visitors == 5
    assert sum(r.pageviews for r in data["breakdowns"]["pages"]) == 12


@pytest.mark.django_db
def test_a_new_snapshot_version_makes_old_answers_unreachable(stats_cache_on):
    website = make_website()
    record_events(website, [{"type": "PAGE_VIEW", "at": NOW - dt.timedelta(days=2)}])
    week = from_query({"period": "7d"}, website.tz)
    assert queries.summary(website, week).pageviews == 1
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "at": NOW - dt.timedelta(days=2, minutes=-1),
                "url": "https://example.com/x",
            }
        ],
    )
    assert queries.summary(website, week).pageviews == 1  # cached, until a refresh
    tasks.refresh(website)
    stats_cache.forget()
    assert queries.summary(website, week).pageviews == 2


@pytest.mark.django_db
def test_stats_work_when_the_cache_is_down(stats_cache_on, settings):
    website = make_website()
    record_events(website, [{"type": "PAGE_VIEW", "at": NOW - dt.timedelta(days=1)}])
    _roll(website)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }  # nothing listens
    stats_cache._down_until = 0.0
    stats_cache.forget()
    week = from_query({"period": "7d"}, website.tz)
    try:
        data = queries.dashboard(website, week)
        tasks.refresh(website)  # the job degrades the same way
    finally:
        stats_cache._down_until = 0.0
    assert data["summary"].pageviews == 1
    with planner.raw_only():
        assert queries.dashboard(website, week) == data


@pytest.mark.django_db
def test_rollup_prune_and_status_commands(settings):
    website = make_website(domain="cli.example")
    _traffic(website, days=3)
    out = StringIO()
    call_command("rollup", "--quiet", stdout=out)
    assert "closed" in out.getvalue()
    closed = Watermark.objects.get(website=website, granularity=Granularity.DAY).closed_until
    assert closed is not None
    # Repair a range: the buckets are recomputed, the numbers stay the same.
    before = _state(website)
    day = (NOW - dt.timedelta(days=2)).astimezone(website.tz).date()
    out = StringIO()
    call_command(
        "rollup", "--from", day.isoformat(), "--to", day.isoformat(), "--quiet", stdout=out
    )
    assert "recomputed 25" in out.getvalue()  # one day + its 24 hours
    assert _state(website) == before
    out = StringIO()
    call_command("prune", "--quiet", stdout=out)
    assert out.getvalue().startswith("deleted 0 sessions")
    out = StringIO()
    call_command("status", stdout=out)
    assert "worker is not running" in out.getvalue()
    assert "cli.example" in out.getvalue()
    tasks.heartbeat.call_local()
    tasks.rollup_all.call_local()
    out = StringIO()
    call_command("status", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert not any("worker is not running" in w for w in data["warnings"])
    assert JobRun.objects.get(name="rollup_all").last_success_at is not None


@pytest.mark.django_db
def test_the_status_page_is_for_staff_only(client):
    user = make_user()
    client.force_login(user)
    assert client.get("/status/").status_code == 302  # to the admin login
    user.is_staff = True
    user.save()
    response = client.get("/status/")
    assert response.status_code == 200
    assert b"worker is not running" in response.content


@pytest.mark.django_db
def test_importing_old_events_into_rolled_up_days_reopens_them(tmp_path):
    website = make_website()
    _traffic(website, days=5)
    _roll(website)
    day = (NOW - dt.timedelta(days=3)).date()
    period = for_days(day, day, website.tz)
    before = queries.summary(website, period).pageviews
    ts = dt.datetime.combine(day, dt.time(12, 0), dt.UTC).isoformat()
    path = tmp_path / "old.ndjson"
    path.write_text(
        json.dumps(
            {
                "site": website.tracking_id,
                "type": "PAGE_VIEW",
                "url": "https://example.com/imported",
                "ts": ts,
                "ip": "198.51.100.99",
                "user_agent": DESKTOP_UA,
            }
        )
        + "\n"
    )
    call_command("import_events", str(path), "--quiet", stdout=StringIO())
    call_command("rollup", "--quiet", stdout=StringIO())
    assert queries.summary(website, period).pageviews == before + 1
    assert Watermark.objects.get(website=website, granularity=Granularity.DAY).repairs == 1


@pytest.mark.django_db
def test_cached_closed_days_change_only_with_a_repair(stats_cache_on):
    website = make_website()
    _traffic(website, days=4)
    _roll(website)
    stats_cache.publish_versions(website.id)
    month = from_query({"period": "30d"}, website.tz)
    first = queries.summary(website, month)
    # A refresh (new version) reuses the closed days' cached share: the answer is the same.
    tasks.refresh(website)
    stats_cache.forget()
    assert queries.summary(website, month) == first
    # Late data in a closed day: repaired, and the cached share is not reused.
    old = NOW - dt.timedelta(days=3)
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "at": old,
                "ip": "198.51.100.77",
                "url": "https://example.com/late",
            }
        ],
    )
    fill.mark_dirty(website, old)
    _roll(website)
    tasks.refresh(website)
    stats_cache.forget()
    answer = queries.summary(website, month)
    assert answer.pageviews == first.pageviews + 1
    with planner.raw_only():
        assert queries.summary(website, month) == answer


@pytest.mark.django_db
def test_unique_visitors_add_exactly_across_daily_buckets_not_hours():
    website = make_website()
    base = local_midnight((NOW - dt.timedelta(days=3)).date(), website.tz)
    same_person = {"ip": "198.51.100.5", "user_agent": DESKTOP_UA}
    record_events(
        website,
        [
            {**same_person, "type": "PAGE_VIEW", "at": base + dt.timedelta(hours=9)},
            {**same_person, "type": "PAGE_VIEW", "at": base + dt.timedelta(hours=15)},  # same day
            {**same_person, "type": "PAGE_VIEW", "at": base + dt.timedelta(days=1, hours=9)},
        ],
    )
    _roll(website)
    daily = Snapshot.objects.filter(website=website, granularity=Granularity.DAY)
    assert sorted(daily.values_list("visitors", flat=True)) == [1, 1]
    hourly = Snapshot.objects.filter(website=website, granularity=Granularity.HOUR)
    assert sum(hourly.values_list("visitors", flat=True)) == 3  # hours do not add up
    two_days = for_days(base.date(), base.date() + dt.timedelta(days=1), website.tz)
    with planner.raw_only():
        assert queries.summary(website, two_days).visitors == 2  # a new id each local day
    assert queries.summary(website, two_days).visitors == 2


@pytest.mark.django_db
def test_closed_months_are_sums_of_their_days_and_answer_long_periods():
    website = make_website(timezone="Europe/Berlin")
    _traffic(website, days=75, per_day=2)
    _roll(website)
    months = Snapshot.objects.filter(website=website, granularity=Granularity.MONTH)
    assert months.exists()
    for month in months:
        end = local_midnight(next_month(month.start.astimezone(website.tz).date()), website.tz)
        days = Snapshot.objects.filter(
            website=website, granularity=Granularity.DAY, start__gte=month.start, start__lt=end
        )
        assert month.visitors == sum(d.visitors for d in days)
        assert month.pageviews == sum(d.pageviews for d in days)
    year = from_query({"period": "12m"}, website.tz)
    plan = planner.State(website).plan_days(year)
    assert plan.months, "whole closed months are read from monthly snapshots"
    answers = (
        queries.summary(website, year),
        [queries.breakdown(website, year, d, limit=None) for d in BREAKDOWNS],
    )
    with planner.raw_only():
        assert (
            queries.summary(website, year),
            [queries.breakdown(website, year, d, limit=None) for d in BREAKDOWNS],
        ) == answers
    # A late event in a closed month reopens it; the next rollup recomputes it.
    old = months.order_by("start").first().start + dt.timedelta(days=3, hours=12)
    record_events(website, [{"type": "PAGE_VIEW", "at": old, "ip": "198.51.100.90"}])
    fill.mark_dirty(website, old)
    _roll(website)
    with planner.raw_only():
        expected = queries.summary(website, year)
    assert queries.summary(website, year) == expected


@pytest.mark.django_db
def test_a_plan_covers_its_period_once_with_days_before_the_first_rollup_raw():
    """A 2-year period of a young site is mostly days before its first daily snapshot
    (planned in runs, not day by day): they are raw, and every instant of the period is in
    exactly one part of the plan."""
    website = make_website(timezone="America/New_York")
    _traffic(website, days=75, per_day=2)
    _roll(website)
    today = NOW.astimezone(website.tz).date()
    two_years = for_days(today - dt.timedelta(days=729), today, website.tz)
    state = planner.State(website)
    for period in (two_years, two_years.previous(), from_query({"period": "12m"}, website.tz)):
        plan = state.plan_days(period)
        parts = sorted(plan.raw + plan.snapshots + plan.months)
        assert parts[0][0] == period.start and parts[-1][1] == period.end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts)), "no gap, no overlap"
        assert all(lo >= state.day_from for lo, _ in plan.snapshots + plan.months)
        assert [lo for lo, hi in plan.raw if lo < state.day_from] == [period.start]
    assert plan.snapshots and plan.months
    with planner.raw_only():
        expected = queries.dashboard(website, two_years)
    assert queries.dashboard(website, two_years) == expected


@pytest.mark.django_db
def test_a_cached_dashboard_is_the_computed_one_point_for_point(stats_cache_on):
    """The bundle is cached in a packed form (columns of ints) and rebuilt on a hit."""
    website = make_website()
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "at": NOW - dt.timedelta(days=d, minutes=m),
                "url": f"https://example.com/{d % 3}",
                "ip": f"203.0.113.{m}",
            }
            for d in range(0, 20, 3)
            for m in range(1, 4)
        ],
    )
    month = from_query({"period": "30d"}, website.tz)
    with stats_cache.bypass():
        computed = queries.dashboard(website, month)
    cold = queries.dashboard(website, month)  # computed, stored packed
    with CaptureQueriesContext(connection) as queries_run:
        warm = queries.dashboard(website, month)  # unpacked from the cache
    assert len(queries_run) == 0
    assert cold == warm == computed
    assert len(warm["timeseries"]) == 30 and sum(p.pageviews for p in warm["timeseries"]) == 21
    assert all(type(p) is queries.Point for p in warm["timeseries"])
    assert all(type(r) is queries.Row for r in warm["breakdowns"]["pages"])
    # A caller changing its copy changes nothing for the next reader (the rebuilt points
    # are shared by equal bundles).
    warm["timeseries"].clear()
    warm["breakdowns"]["pages"].append("junk")
    assert queries.dashboard(website, month) == computed
    # New data: a new bundle, not the rebuilt one of the old.
    record_events(
        website,
        [
            {
                "type": "PAGE_VIEW",
                "at": NOW - dt.timedelta(days=1),
                "url": "https://example.com/new",
                "ip": "203.0.113.99",
            }
        ],
    )
    tasks.refresh(website)
    stats_cache.forget()
    fresh = queries.dashboard(website, month)
    assert sum(p.pageviews for p in fresh["timeseries"]) == 22
    assert "/new" in [r.value for r in fresh["breakdowns"]["pages"]]


@pytest.mark.django_db
def test_a_deleted_website_takes_its_snapshots_and_the_admin_does_not_list_them(client):
    from websites.services import website_delete

    owner = make_user()
    doomed, kept = make_website(owner, "doomed.example"), make_website(owner, "kept.example")
    for website in (doomed, kept):
        _traffic(website, days=3)
        _roll(website)
    # The open day's running totals too: a record per session that may still change.
    record_events(
        doomed,
        [
            {"type": "PAGE_VIEW", "at": NOW - dt.timedelta(minutes=5), "ip": f"192.0.2.{i}"}
            for i in range(3)
        ],
    )
    fill.refresh_open(doomed, now=NOW)
    kept_state = _state(kept)
    assert SnapshotRow.objects.filter(website=doomed).count() > 10
    parts = list(OpenPart.objects.filter(website=doomed).values_list("pk", flat=True))
    assert OpenRecord.objects.filter(part_id__in=parts).count() >= 3
    assert OpenRow.objects.filter(part_id__in=parts).exists()

    root = make_user("root@example.com")
    root.is_staff = root.is_superuser = True
    root.save()
    client.force_login(root)
    page = client.get(f"/admin/auth/user/{owner.pk}/delete/", HTTP_HOST="localhost")
    assert page.status_code == 200
    # The websites are listed; their rows, by the hundred thousand on a busy site, are not.
    listed = dict(page.context["model_count"])
    assert listed["websites"] == 2 and listed["snapshots"] > 0
    assert not {"snapshot rows", "sessions", "events", "open records", "open rows"} & set(listed)

    doomed_id = doomed.id
    with CaptureQueriesContext(connection) as queries:
        website_delete(website=doomed)
    assert not SnapshotRow.objects.filter(website_id=doomed_id).exists()
    assert not Snapshot.objects.filter(website_id=doomed_id).exists()
    assert [q["sql"] for q in queries if "rollups_snapshotrow" in q["sql"]] == [
        f'DELETE FROM "rollups_snapshotrow" WHERE "rollups_snapshotrow"."website_id" = {doomed_id}'
    ]
    assert not OpenRecord.objects.filter(part_id__in=parts).exists()
    assert not OpenRow.objects.filter(part_id__in=parts).exists()
    assert not OpenPart.objects.filter(website_id=doomed_id).exists()
    # One statement per part and table, whatever the number of open sessions.
    deletes = [q["sql"] for q in queries if q["sql"].startswith('DELETE FROM "rollups_openrecord"')]
    assert len(deletes) == len(parts)
    assert _state(kept) == kept_state
