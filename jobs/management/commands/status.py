"""``status``: what the ``/status/`` page shows, as text or JSON (``jobs.status``)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from jobs.status import collect


class Command(BaseCommand):
    help = "Queue depth, periodic jobs, rollup lag, drop counters; warns if the worker is down."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        data = collect()
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        q = data["queue"]
        self.stdout.write(f"queue: {q['pending']} pending, {q['scheduled']} scheduled")
        self.stdout.write("jobs (last success):")
        for job in data["jobs"]:
            flag = "  STALE" if job["stale"] else ""
            self.stdout.write(f"  {job['name']:<14} {job['last_success_at'] or 'never'}{flag}")
        self.stdout.write("rollup lag (seconds behind, hour / day):")
        for site in data["websites"]:
            lag = site["rollup_lag_s"]
            self.stdout.write(f"  {site['domain']:<32} {lag['hour']} / {lag['day']}")
        drops = ", ".join(f"{k} {v}" for k, v in sorted(data["drops_7d"].items())) or "none"
        self.stdout.write(f"dropped events, last 7 days: {drops}")
        for warning in data["warnings"]:
            self.stdout.write(self.style.WARNING(f"WARNING: {warning}"))
        if data["ok"]:
            self.stdout.write(self.style.SUCCESS("ok"))
