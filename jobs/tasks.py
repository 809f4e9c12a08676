"""Huey tasks: thin wrappers that gather arguments and call one function each.

``request_refresh`` is what ingestion calls after a commit: it schedules at most one
pending ``refresh_website`` per website (debounced), however many events arrive. That job
refreshes the site's open snapshots and warms the cached dashboards of the standard
periods. Periodic jobs close finished hours and days (``rollup_all``), apply retention
(``prune_all``), rotate salts, and record a heartbeat; each records its last success in
``jobs.models.JobRun`` for ``simple-analytics status``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db.models import Min
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from jobs.models import JobRun
from rollups import fill, retention
from rollups.models import Granularity
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

# Per process, website id -> monotonic time until which a pending refresh job is known to
# start later than now, so commits until then need not ask the queue storage (Redis).
_recently_requested: dict[int, float] = {}
_memo_lock = threading.Lock()
# While the queue storage fails: websites whose refresh is still to be enqueued, and when
# to try again. Guarded by _memo_lock.
_owed: set[int] = set()
_queue_down_until = 0.0
QUEUE_RETRY_SECONDS = 2.0
# Website id -> wall-clock start of the pending refresh job this process last knew of (its
# own, or another process's read from the flag), so the flag is read once per job.
_runs_at: dict[int, float] = {}


def _flag(website_id: int) -> str:
    return f"refresh-pending:{website_id}"


def _arm(website_id: int, runs_at: float, delay: float) -> bool:
    """Set the website's flag to ``runs_at`` and schedule its refresh ``delay`` seconds from
    now, unless a refresh is pending already (the flag is set): False then."""
    if not HUEY.put_if_empty(_flag(website_id), runs_at):
        return False
    refresh_website.schedule((website_id,), delay=delay)
    return True


def request_refresh(website_ids: set[int] | list[int], *, now: float | None = None) -> int:
    """Schedule one debounced refresh per website unless one is already pending.

    Returns how many jobs were enqueued. The flag is set atomically in the queue storage
    (``put_if_empty``), so web processes on several hosts enqueue one job between them. Its
    value is the wall-clock time the job runs; the job reads every event committed before
    it starts, so until shortly before then (half the debounce earlier, a margin for the
    clocks of other hosts) this process skips the queue for that website. A pending job
    that is about to start, or already running (it clears the flag first), is never
    relied on: then the caller's events get a job of their own.

    Never raises for the queue: ingestion calls this after its commit, and an event is
    stored whether or not its refresh can be enqueued. While the queue storage fails, the
    websites are remembered and enqueued by the first call after ``QUEUE_RETRY_SECONDS``
    that reaches it (the next commit); meanwhile reads compute the open day from raw
    events once its snapshot is older than ``OPEN_SNAPSHOT_MAX_AGE_SECONDS``, and
    ``rollup_all`` closes finished buckets whatever was missed. (A flag set just before
    the storage failed, without its job, is re-armed by ``sweep_refresh_flags``.)
    """
    global _queue_down_until
    now = time.monotonic() if now is None else now
    delay = settings.REFRESH_DEBOUNCE_SECONDS
    margin = delay / 2
    with _memo_lock:
        if now < _queue_down_until:
            _owed.update(website_ids)
            return 0
        owed = set(_owed)
        _owed.clear()
    todo = list(set(website_ids) | owed)
    enqueued = 0
    for i, website_id in enumerate(todo):
        with _memo_lock:
            if now < _recently_requested.get(website_id, 0.0):
                continue
        try:
            runs_at = time.time() + delay
            if _arm(website_id, runs_at, delay):
                enqueued += 1
            else:
                # A job is pending (not started: it clears the flag first). When does it
                # start? A start still ahead that this process knew of is the same job or
                # an earlier one; otherwise read it from the flag.
                known = _runs_at.get(website_id, 0.0)
                if known <= time.time():
                    value = HUEY.get(_flag(website_id), peek=True)
                    known = value if isinstance(value, float) else 0.0
                runs_at = known
            _runs_at[website_id] = runs_at
        except Exception as exc:
            with _memo_lock:
                _owed.update(todo[i:])
                # Jobs thought pending may be lost with the storage (a Redis restarted empty).
                _recently_requested.clear()
                _runs_at.clear()
                first = now >= _queue_down_until and not owed
                _queue_down_until = now + QUEUE_RETRY_SECONDS
            if first:
                log.warning("job queue unreachable, refreshes wait until it returns: %s", exc)
            return enqueued
        wall = time.time()
        skip_until = now + (runs_at - wall) - margin
        if wall - runs_at > 2 * max(delay, 1):
            # Overdue: the consumers are down or far behind. Its start may come at any
            # moment; ask again once a second rather than on every commit. (Events of a
            # burst's last second may then wait for the next job, or for reads to compute
            # the open day from raw events once its snapshot is OPEN_SNAPSHOT_MAX_AGE old.)
            skip_until = now + 1.0
        with _memo_lock:
            if skip_until > now:
                _recently_requested[website_id] = skip_until
            else:
                _recently_requested.pop(website_id, None)
    if owed:
        log.warning("job queue reachable again: refreshes of %d websites enqueued", len(owed))
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
    if not _refresh_lock(website_id):
        # Another consumer is refreshing this website, and may have read the database
        # before this job's events were committed: run again after it, rather than drop
        # them until the next burst (huey's lock_task would drop this job).
        delay = settings.REFRESH_DEBOUNCE_SECONDS
        _arm(website_id, time.time() + delay, delay)
        return
    try:
        website = Website.objects.filter(id=website_id).first()
        if website is not None:
            refresh(website)
    finally:
        _refresh_unlock(website_id)


# A refresh holds this lock while it runs. It expires: a consumer killed mid-refresh must not
# block the website's refreshes for good (huey's task locks never expire). Two refreshes at
# once are harmless, only wasted work: every snapshot is replaced behind its version check.
REFRESH_LOCK_SECONDS = 600


def _refresh_lock_key(website_id: int) -> str:
    return f"refresh-running:{website_id}"


def _refresh_lock(website_id: int) -> bool:
    try:
        return bool(cache.add(_refresh_lock_key(website_id), 1, timeout=REFRESH_LOCK_SECONDS))
    except Exception:  # the cache is down: refresh anyway
        return True


def _refresh_unlock(website_id: int) -> None:
    try:
        cache.delete(_refresh_lock_key(website_id))
    except Exception:  # expires by itself
        log.warning("could not release the refresh lock of website %s", website_id)


def refresh(website: Website, *, now: dt.datetime | None = None) -> None:
    if website.first_event_at is None:
        first = Event.objects.filter(website=website).aggregate(t=Min("created_at"))["t"]
        if first is not None:
            Website.objects.filter(id=website.id, first_event_at__isnull=True).update(
                first_event_at=first
            )
    if fill.find_late(website, now=now):
        for granularity in (Granularity.HOUR, Granularity.DAY):
            fill.rollup(website, granularity, now=now)
    fill.refresh_open(website, now=now)
    # Warm first, then publish: readers switch to the new answers once they are cached.
    try:
        with stats_cache.ahead(website.id):
            warm(website, now=now)
    finally:
        stats_cache.publish_versions(website.id)


@db_task()
def backfill_conversions(website_id: int) -> None:
    """A goal or funnel was defined: reopen every day whose raw data is still kept (read
    from raw data until the next ``rollup_all`` closes them again, with the new counts) and
    rewrite the open day's snapshot. Cheap, so several definitions cost one recompute, and
    it closes no day an import is still writing to."""
    website = Website.objects.filter(pk=website_id).first()
    if website is None:
        return
    first = fill.first_data(website)
    if first is not None:
        fill.mark_dirty(website, first, granularities=(Granularity.DAY, Granularity.MONTH))
    fill.refresh_open(website)
    stats_cache.publish_versions(website.id)


def definitions_changed(website_id: int) -> None:
    """A goal or funnel was saved or deleted: cached answers that counted it (or filtered by
    its name) become unreachable. Nothing for a website deleted meanwhile."""
    website = Website.objects.filter(pk=website_id).first()
    if website is not None:
        fill.definitions_changed(website)
        stats_cache.publish_versions(website.id)


def warm(website: Website, *, now: dt.datetime | None = None) -> None:
    if not settings.STATS_CACHE:
        return
    for key in WARM_PERIODS:
        period = from_query({"period": key}, website.tz, now=now)
        queries.dashboard(website, period, limit=WARM_LIMIT)


def rollup_website(website: Website, *, now: dt.datetime | None = None) -> int:
    """Repair late buckets, then close every finished hour and day of one website."""
    done = fill.catch_up(website, now=now)
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
