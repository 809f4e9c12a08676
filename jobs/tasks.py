"""Huey tasks: thin wrappers that gather arguments and call one function each.

``request_refresh`` is what ingestion calls after a commit: it schedules at most one
pending ``refresh_website`` per website (debounced), however many events arrive.
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

from tracking.identity import salts_prune
from tracking.models import Event
from websites.models import Website

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


@db_task()
def refresh_website(website_id: int) -> None:
    """Refresh what depends on a website's newest events.

    The flag is cleared first, so events that arrive while this runs schedule the next
    refresh. Today it records when the first event arrived (the snippet page shows it);
    the rollup work builds on this same job.
    """
    HUEY.get(_flag(website_id))  # get() removes the key: the next burst schedules again
    with HUEY.lock_task(f"refresh-website-{website_id}"):
        website = Website.objects.filter(id=website_id, first_event_at__isnull=True).first()
        if website is not None:
            first = Event.objects.filter(website_id=website_id).aggregate(t=Min("created_at"))["t"]
            if first is not None:
                Website.objects.filter(id=website_id, first_event_at__isnull=True).update(
                    first_event_at=first
                )


@db_periodic_task(crontab(minute="5"))
def rotate_salts() -> None:
    """Hourly: delete salts no time zone can still use, create tomorrow's ahead."""
    deleted = salts_prune(today=timezone.now().astimezone(dt.UTC).date())
    if deleted:
        log.info("deleted %d old salts", deleted)


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
