"""Huey tasks: thin wrappers that gather arguments and call one function each.

``request_refresh`` is what ingestion calls after a commit: it schedules at most one
pending ``refresh_website`` per website (debounced), however many events arrive. That job
refreshes the site's open snapshots and warms the cached dashboards of the standard
periods. Periodic jobs close finished hours and days (``rollup_all``), apply retention
(``prune_all``), rotate salts, and record a heartbeat; each records its last success in
``rollups.models.JobRun`` for ``simple-analytics status``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db.models import Min
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from rollups import compute, retention
from rollups.models import Granularity, JobRun
from stats import cache as stats_cache
from stats import queries
from stats.periods import from_query
from tracking.identity import salts_prune
from tracking.models import Event
from websites.models import Website

# The dashboards a refresh warms: what users open most (dashboard.presenters.PANEL_LIMIT).
WARM_PERIODS = ("today", "7d", "30d")
WARM_LIMIT = 10

log = logging.getLogger(__name__)

# Per-process memo so a busy web worker does not ask the queue storage on every commit.
_recently_requested: dict[int, float] = {}
_memo_lock = threading.Lock()


def _flag(website_id: int) -> str:
    return f"refresh-pending:{website_id}"


def request_refresh(website_ids: set[int] | list[int], *, now: float | None = None) -> int:
    """Schedule one debounced refresh per website unless one is already pending.

    Returns how many jobs were enqueued. The flag is set atomically in the queue storage
    (``put_if_empty``), so web processes on several hosts enqueue one job between them.
    """
    now = time.monotonic() if now is None else now
    delay = settings.REFRESH_DEBOUNCE_SECONDS
    enqueued = 0
    for website_id in website_ids:
        with _memo_lock:
            last = _recently_requested.get(website_id)
            if last is not None and now - last < max(delay, 1) / 2:
                continue
            _recently_requested[website_id] = now
        if HUEY.put_if_empty(_flag(website_id), "1"):
            refresh_website.schedule((website_id,), delay=delay)
            enqueued += 1
    return enqueued


def record_run(name: str, error: BaseException | None = None) -> None:
    now = timezone.now()
    if error is None:
        JobRun.objects.update_or_create(name=name, defaults={"last_success_at": now})
    else:
        JobRun.objects.update_or_create(
            name=name, defaults={"last_error_at": now, "last_error": repr(error)[:2000]}
        )


@db_task()
def refresh_website(website_id: int) -> None:
    """Refresh what depends on a website's newest events.

    The flag is cleared first, so events that arrive while this runs schedule the next
    refresh. Records when the first event arrived (the snippet page shows it), repairs
    closed buckets that late events changed, recomputes the open hour and day, and fills
    the cache for the standard periods so the next dashboard read is a hit.
    """
    HUEY.get(_flag(website_id))  # get() removes the key: the next burst schedules again
    with HUEY.lock_task(f"refresh-website-{website_id}"):
        website = Website.objects.filter(id=website_id).first()
        if website is None:
            return
        refresh(website)


def refresh(website: Website, *, now: dt.datetime | None = None) -> None:
    if website.first_event_at is None:
        first = Event.objects.filter(website=website).aggregate(t=Min("created_at"))["t"]
        if first is not None:
            Website.objects.filter(id=website.id, first_event_at__isnull=True).update(
                first_event_at=first
            )
    if compute.find_late(website, now=now):
        for granularity in (Granularity.HOUR, Granularity.DAY):
            compute.rollup(website, granularity, now=now)
    compute.refresh_open(website, now=now)
    stats_cache.publish_versions(website.id)
    warm(website, now=now)


def warm(website: Website, *, now: dt.datetime | None = None) -> None:
    if not settings.STATS_CACHE:
        return
    for key in WARM_PERIODS:
        period = from_query({"period": key}, website.tz, now=now)
        queries.dashboard(website, period, limit=WARM_LIMIT)


def rollup_website(website: Website, *, now: dt.datetime | None = None) -> int:
    """Repair late buckets, then close every finished hour and day of one website."""
    compute.find_late(website, now=now)
    done = sum(compute.rollup(website, g, now=now) for g in (Granularity.HOUR, Granularity.DAY))
    if done:
        stats_cache.publish_versions(website.id)
    return done


@db_periodic_task(crontab(minute="*/15"))
def rollup_all() -> None:
    """Close finished hours (hourly buckets) and finished local days (each website's own
    midnight) of every website. Runs every 15 minutes; closing is idempotent."""
    try:
        with HUEY.lock_task("rollup-all"):
            for website in Website.objects.all():
                rollup_website(website)
    except Exception as exc:
        record_run("rollup_all", exc)
        raise
    record_run("rollup_all")


@db_periodic_task(crontab(minute="45", hour="*/6"))
def prune_all() -> None:
    """Retention: raw data past RAW_RETENTION_DAYS (once rolled up), old snapshots."""
    try:
        with HUEY.lock_task("prune-all"):
            pruned = retention.prune()
            log.info("pruned %s", pruned)
    except Exception as exc:
        record_run("prune_all", exc)
        raise
    record_run("prune_all")


@db_periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    """Every minute: proves a consumer with its scheduler is running (status warns if not)."""
    record_run("heartbeat")


@db_periodic_task(crontab(minute="5"))
def rotate_salts() -> None:
    """Hourly: delete salts no time zone can still use, create tomorrow's ahead."""
    deleted = salts_prune(today=timezone.now().astimezone(dt.UTC).date())
    if deleted:
        log.info("deleted %d old salts", deleted)
    record_run("rotate_salts")


@db_periodic_task(crontab(minute="*/10"))
def sweep_refresh_flags() -> None:
    """A crashed consumer may leave a refresh flag set with no job behind it: re-arm."""
    # Read the queue once, not once per website.
    queued = {
        task.args[0]
        for task in HUEY.scheduled() + HUEY.pending()
        if task.name.endswith("refresh_website") and task.args
    }
    for website_id in Website.objects.filter(is_active=True).values_list("id", flat=True):
        if website_id not in queued and HUEY.get(_flag(website_id), peek=True) is not None:
            HUEY.get(_flag(website_id))
