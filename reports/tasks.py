"""The periodic job that sends email reports (thin: ``reports.services`` does the work)."""

from __future__ import annotations

import logging

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from jobs.tasks import record_run
from reports.services import reports_send_due

log = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="3"))
def send_reports() -> None:
    """Hourly: send the weekly and monthly reports that are due at this local hour. No lock:
    the delivery rows make two runs at once send each report once."""
    try:
        outcomes = reports_send_due(now=timezone.now())
        if outcomes:
            log.info("email reports: %s", dict(outcomes))
    except Exception as exc:
        record_run("send_reports", exc)
        raise
    record_run("send_reports")
