"""Open buckets refreshed many times equal their recomputation from raw data, always.

Traffic of a few visitors (returning ones, sessions going on across refreshes, sessions
over local midnight, custom events, goals, funnels, engagement reports) arrives in time
order; after each arrival the rollups and the refresh job run as the worker runs them,
and every hour and day that is not closed must hold exactly ``bucket_snapshot``.
"""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from core.calendar import local_midnight
from goals.models import Funnel
from goals.services import goal_create
from rollups import fill, incremental
from rollups.buckets import bucket_snapshot
from rollups.models import Granularity, OpenPart, OpenRecord, Snapshot, SnapshotRow, Watermark
from rollups.tests.test_equivalence import ZONES, _define_goals, _events, city_db, visit
from simple_analytics.testing import make_user, make_website, record_events
from stats import conversions, measures

pytestmark = [pytest.mark.django_db(transaction=False), pytest.mark.slow]
__all__ = ["city_db"]  # a fixture the tests below use

ROW_FIELDS = ("dimension", "value", *measures.STORED_ROW, "engaged_views", "scroll_pct_sum")
WINDOW = dt.timedelta(hours=5)


def _stored(website, granularity, start):
    snap = Snapshot.objects.filter(website=website, granularity=granularity, start=start).first()
    rows = SnapshotRow.objects.filter(website=website, granularity=granularity, start=start)
    return _shape(snap, rows)


def _shape(snap, rows):
    head = None if snap is None else tuple(getattr(snap, m) for m in measures.SUMMARY)
    return head, sorted(tuple(getattr(r, f) for f in ROW_FIELDS) for r in rows)


def _check(website, now, refreshed):
    """Every bucket the refresh kept up to date equals its recomputation."""
    for granularity, b, e in refreshed:
        contents = bucket_snapshot(website, granularity, b, e, now)
        expected = _shape(*contents) if contents else (None, [])
        assert _stored(website, granularity, b) == expected, (granularity, b, now)
    return len(refreshed)


def _run(website, now):
    """The worker's rollups and refresh; returns the buckets the refresh wrote."""
    for granularity in (Granularity.HOUR, Granularity.DAY):
        fill.rollup(website, granularity, now=now)
    refreshed = []

    def spy(website, granularity, start, end, now, reader):
        refreshed.append((granularity, start, end))
        incremental.refresh_bucket(website, granularity, start, end, now, reader)

    with mock.patch.object(fill, "refresh_bucket", spy):
        fill.refresh_open(website, now=now)
    return refreshed


@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    zone=st.sampled_from(ZONES),
    visits=st.lists(visit, min_size=8, max_size=40),
    refreshes=st.lists(st.integers(1, 300), min_size=3, max_size=12, unique=True),
    redefine=st.integers(0, 12),
)
def test_an_open_day_refreshed_many_times_equals_its_recomputation(
    zone, visits, refreshes, redefine, city_db
):
    website = make_website(owner=make_user(), timezone=zone)
    _define_goals(website)
    today = timezone.now().astimezone(website.tz).date() - dt.timedelta(days=2)
    midnight = local_midnight(today, website.tz)
    # Visits from 40 minutes before midnight (sessions going on into the day) to 4h20 after.
    end = midnight + WINDOW - dt.timedelta(minutes=40)
    for v in visits:
        v["day"] = 0
        v["minute"] = v["minute"] % int(WINDOW.total_seconds() // 60)
    events = _events(website, visits, end)
    times = sorted(midnight + dt.timedelta(minutes=m) for m in refreshes) + [end]
    pending = list(events)
    checked = 0
    for step, now in enumerate(times):
        arrived = [e for e in pending if e["at"] < now]
        pending = pending[len(arrived) :]
        record_events(website, arrived)
        if step == redefine:  # a goal defined mid-day: the open day's totals are rebuilt
            goal_create(website=website, kind="page", page_pattern="/docs")
        checked += _check(website, now, _run(website, now))
    assert checked >= len(times)
    assert OpenPart.objects.filter(website=website).exists()


def _traffic(website, start, n, *, visitors=4):
    out = []
    for i in range(n):
        out.append(
            {
                "type": "PAGE_VIEW",
                "at": start + dt.timedelta(minutes=7 * i),
                "ip": f"198.51.100.{i % visitors}",
                "url": f"https://{website.domain}/p{i % 3}",
            }
        )
    return out


def test_older_events_imported_into_the_open_day_rebuild_its_totals():
    website = make_website(owner=make_user(), timezone="Europe/Berlin")
    midnight = local_midnight(
        timezone.now().astimezone(website.tz).date() - dt.timedelta(days=1), website.tz
    )
    now = midnight + dt.timedelta(hours=10)
    record_events(website, _traffic(website, midnight + dt.timedelta(hours=8), 12))
    _run(website, now)
    # An import of events made hours ago: the writer, then the import command's mark_dirty.
    record_events(website, _traffic(website, midnight + dt.timedelta(hours=1), 6, visitors=9))
    fill.mark_dirty(website, midnight + dt.timedelta(hours=1))
    later = now + dt.timedelta(minutes=1)
    assert _check(website, later, _run(website, later)) >= 2


def test_a_refresh_that_fails_leaves_the_previous_totals(monkeypatch):
    website = make_website(owner=make_user(), timezone="UTC")
    midnight = local_midnight(timezone.now().date() - dt.timedelta(days=1), website.tz)
    record_events(website, _traffic(website, midnight + dt.timedelta(hours=1), 5))
    now = midnight + dt.timedelta(hours=2)
    _run(website, now)
    before = _stored(website, Granularity.DAY, midnight)
    record_events(website, _traffic(website, now, 3, visitors=7))

    def fail(*args, **kwargs):
        raise RuntimeError("crash")

    monkeypatch.setattr(incremental, "_write", fail)
    with pytest.raises(RuntimeError):
        _run(website, now + dt.timedelta(minutes=30))
    assert _stored(website, Granularity.DAY, midnight) == before
    monkeypatch.undo()
    later = now + dt.timedelta(minutes=30)
    assert _check(website, later, _run(website, later)) >= 2


def test_records_are_kept_only_for_sessions_that_may_still_change():
    website = make_website(owner=make_user(), timezone="UTC")
    midnight = local_midnight(timezone.now().date() - dt.timedelta(days=1), website.tz)
    record_events(website, _traffic(website, midnight + dt.timedelta(hours=1), 4, visitors=4))
    _run(website, midnight + dt.timedelta(hours=1, minutes=30))
    assert OpenRecord.objects.filter(part__website=website).exists()
    later = midnight + dt.timedelta(hours=3)
    assert _check(website, later, _run(website, later)) >= 2
    assert not OpenRecord.objects.filter(part__website=website).exists()


def test_a_day_with_a_dst_change_refreshed_many_times_equals_its_recomputation():
    website = make_website(owner=make_user(), timezone="Europe/Berlin")
    _define_goals(website)
    midnight = local_midnight(dt.date(2026, 10, 25), website.tz)  # 25 hours long
    record_events(website, _traffic(website, midnight - dt.timedelta(minutes=20), 3))
    checked = 0
    for step in range(1, 9):
        now = midnight + dt.timedelta(minutes=25 * step)
        start = now - dt.timedelta(minutes=25)
        record_events(website, _traffic(website, start, 4, visitors=3))
        checked += _check(website, now, _run(website, now))
    assert checked >= 16


def test_a_refresh_that_waited_for_another_one_reads_again():
    website = make_website(owner=make_user(), timezone="UTC")
    midnight = local_midnight(timezone.now().date() - dt.timedelta(days=1), website.tz)
    record_events(website, _traffic(website, midnight + dt.timedelta(hours=1), 5))
    now = midnight + dt.timedelta(hours=2)
    _run(website, now)
    # This refresh read its events, then waited for the lock while another one ran.
    later = now + dt.timedelta(minutes=5)
    stale = incremental.reader_for(website, midnight, later)
    record_events(website, _traffic(website, later, 3, visitors=6))
    latest = later + dt.timedelta(minutes=30)
    _run(website, latest)
    with Watermark.locked(website, Granularity.DAY):
        incremental.refresh_bucket(
            website, Granularity.DAY, midnight, midnight + dt.timedelta(days=1), latest, stale
        )
    refreshed = [(Granularity.DAY, midnight, midnight + dt.timedelta(days=1))]
    assert _check(website, latest, refreshed) == 1


def test_an_event_committed_after_a_later_one_of_its_session_walks_the_funnels_again():
    website = make_website(owner=make_user(), timezone="UTC")
    _define_goals(website)
    start = local_midnight(timezone.now().date() - dt.timedelta(days=1), website.tz)
    start += dt.timedelta(hours=2)
    visitor = {"ip": "198.51.100.7", "url": f"https://{website.domain}/home"}
    signup = {**visitor, "type": "EVENT", "name": "Signup", "at": start + dt.timedelta(seconds=50)}
    record_events(website, [{**visitor, "type": "PAGE_VIEW", "at": start}, signup])
    now = start + dt.timedelta(seconds=70)
    assert _check(website, now, _run(website, now)) >= 2
    # Made before the Signup (the funnel's second step) but committed after that refresh.
    pricing = {**visitor, "url": f"https://{website.domain}/pricing"}
    record_events(
        website, [{**pricing, "type": "PAGE_VIEW", "at": start + dt.timedelta(seconds=30)}]
    )
    later = start + dt.timedelta(seconds=100)
    assert _check(website, later, _run(website, later)) >= 2
    buy = Funnel.objects.get(website=website, name="buy")
    reached = SnapshotRow.objects.get(
        website=website,
        granularity=Granularity.DAY,
        dimension=conversions.FUNNEL,
        value=conversions.funnel_step(buy.id, 2),
    )
    assert reached.pageviews == 1  # /pricing, then Signup: both steps, in that order
