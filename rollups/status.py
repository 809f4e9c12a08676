"""Operational status: queue depth, periodic jobs, rollup lag, drops, worker liveness.

Shown by ``simple-analytics status`` and the staff page ``/status/``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Sum
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from rollups.compute import settle
from rollups.models import Granularity, JobRun, Watermark
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
        return {"pending": HUEY.pending_count(), "scheduled": HUEY.scheduled_count(),
                "error": None}  # fmt: skip
    except Exception as exc:  # Redis down: say so, do not fail the status page
        return {"pending": None, "scheduled": None, "error": f"queue unreachable: {exc}"}


def collect(now: dt.datetime | None = None) -> dict[str, Any]:
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
        jobs.append({
            "name": name,
            "last_success_at": last.isoformat() if last else None,
            "last_error_at": run.last_error_at.isoformat() if run and run.last_error_at else None,
            "last_error": run.last_error if run else "",
            "stale": stale,
        })  # fmt: skip
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
        lag = {}
        for granularity in (Granularity.HOUR, Granularity.DAY):
            closed = marks.get((website.id, granularity))
            # A bucket can close once it ended `settle` ago; lag counts from then.
            due = now - settle() - (dt.timedelta(hours=1) if granularity == Granularity.HOUR
                                    else dt.timedelta(days=1))  # fmt: skip
            lag[granularity] = (
                None if closed is None else max(0, int((due - closed).total_seconds()))
            )
        sites.append({"domain": website.domain, "tracking_id": website.tracking_id,
                      "rollup_lag_s": lag, "closed_until": {
                          g: (marks[(website.id, g)].isoformat()
                              if marks.get((website.id, g)) else None)
                          for g in (Granularity.HOUR, Granularity.DAY)}})  # fmt: skip
        if lag[Granularity.DAY] and lag[Granularity.DAY] > 2 * 3600:
            warnings.append(f"{website.domain}: daily rollup is {lag['day'] // 3600} h behind")
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
