"""Operational status: queue depth, periodic jobs, rollup lag, drops, worker liveness.

Shown by ``simple-analytics status`` and the staff page ``/status/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from core.calendar import DAY, HOUR
from jobs.models import JobRun
from rollups.buckets import settle
from rollups.models import Granularity, Watermark
from tracking.models import DropCount
from websites.models import Website

# The periodic jobs and how stale their last success may be before status warns.
JOBS: dict[str, dt.timedelta] = {
    "heartbeat": dt.timedelta(minutes=3),
    "rollup_all": dt.timedelta(minutes=40),
    "rotate_salts": dt.timedelta(hours=2, minutes=10),
    "prune_all": dt.timedelta(hours=6, minutes=30),
}


def _queue() -> dict[str, Any]:
    try:
        return {"pending": HUEY.pending_count(), "scheduled": HUEY.scheduled_count(), "error": None}
    except Exception as exc:  # Redis down: say so, do not fail the status page
        return {"pending": None, "scheduled": None, "error": f"queue unreachable: {exc}"}


def collect(now: dt.datetime | None = None) -> dict[str, Any]:
    """The status as plain JSON-ready data: ``ok`` is False when there is any warning."""
    now = now or timezone.now()
    warnings: list[str] = []
    queue = _queue()
    if queue["error"]:
        warnings.append(queue["error"])
    runs = {r.name: r for r in JobRun.objects.all()}
    jobs = []
    for name, max_age in JOBS.items():
        run = runs.get(name)
        last = run.last_success_at if run else None
        stale = last is None or now - last > max_age
        jobs.append(
            {
                "name": name,
                "last_success_at": last.isoformat() if last else None,
                "last_error_at": run.last_error_at.isoformat()
                if run and run.last_error_at
                else None,
                "last_error": run.last_error if run else "",
                "stale": stale,
            }
        )
    heartbeat = runs.get("heartbeat")
    if (
        heartbeat is None
        or heartbeat.last_success_at is None
        or (now - heartbeat.last_success_at > JOBS["heartbeat"])
    ):
        warnings.append(
            "the worker is not running (no heartbeat for 3 minutes): start "
            "`simple-analytics worker` (or `serve`, which runs one)"
        )
    for job in jobs:
        if job["stale"] and job["name"] != "heartbeat" and job["last_success_at"] is not None:
            warnings.append(f"job {job['name']} has not succeeded since {job['last_success_at']}")
    marks = {(w.website_id, w.granularity): w.closed_until for w in Watermark.objects.all()}
    sites = []
    for website in Website.objects.order_by("domain"):
        closed_until = {g: marks.get((website.id, g)) for g in (Granularity.HOUR, Granularity.DAY)}
        lag: dict[str, int | None] = {}
        for granularity, closed in closed_until.items():
            # A bucket can close once it ended `settle` ago; lag counts from then.
            due = now - settle() - (HOUR if granularity == Granularity.HOUR else DAY)
            lag[granularity] = (
                None if closed is None else max(0, int((due - closed).total_seconds()))
            )
        sites.append(
            {
                "domain": website.domain,
                "tracking_id": website.tracking_id,
                "rollup_lag_s": lag,
                "closed_until": {
                    g: (t.isoformat() if t else None) for g, t in closed_until.items()
                },
            }
        )
        day_lag = lag[Granularity.DAY]
        if day_lag and day_lag > 2 * 3600:
            warnings.append(f"{website.domain}: daily rollup is {day_lag // 3600} h behind")
    since = (now - dt.timedelta(days=6)).date()
    drops = dict(
        DropCount.objects.filter(day__gte=since)
        .values("reason")
        .annotate(n=Sum("count"))
        .values_list("reason", "n")
    )
    return {
        "now": now.isoformat(),
        "queue": queue,
        "jobs": jobs,
        "websites": sites,
        "drops_7d": drops,
        "warnings": warnings,
        "ok": not warnings,
    }
