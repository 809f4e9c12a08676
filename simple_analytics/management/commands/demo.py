"""``simple-analytics demo``: a demo account and website with realistic traffic, custom
events, goals and a funnel, so every panel of the dashboard has something to show."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from huey.contrib.djhuey import HUEY
from tqdm import tqdm

from core.synthetic import FUNNEL, GOALS, generate, with_custom_events
from goals.services import funnel_create, goal_create
from jobs.tasks import refresh, rollup_website
from tracking.importer import import_lines
from websites.models import Website
from websites.services import website_create

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-analytics"  # a demo account on the operator's own machine
DEMO_DOMAIN = "demo.example.com"
huey_log = logging.getLogger("huey")


@contextlib.contextmanager
def _jobs_in_this_process() -> Iterator[None]:
    """Run the jobs enqueued meanwhile at once, here: a goal's backfill left in the queue
    would reopen every day the demo rolls up before it returns."""
    was, level = HUEY.immediate, huey_log.level
    HUEY.immediate = True
    huey_log.setLevel(logging.WARNING)  # a line per job run here says nothing to the user
    try:
        yield
    finally:
        HUEY.immediate = was
        huey_log.setLevel(level)


class Command(BaseCommand):
    help = (
        "Create a demo account and website with 90 days of realistic traffic, custom events, "
        "goals and a funnel."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # Sized so the demo, snapshots included, loads in well under 30 s (PERFORMANCE.md).
        parser.add_argument("--events", type=int, default=100_000)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        events: int = options["events"]
        days: int = options["days"]
        quiet: bool = options["quiet"]
        User = get_user_model()
        user = User.objects.filter(username=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, DEMO_EMAIL, DEMO_PASSWORD)
        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        # Start over: a rerun replaces the demo website and its data.
        Website.objects.filter(team__personal_for=user, domain=DEMO_DOMAIN).delete()
        website = website_create(
            owner=user, domain=DEMO_DOMAIN, name="Demo shop", timezone="Europe/Berlin"
        )
        today = dt.datetime.now(website.tz).date()
        # Traffic up to now only: the generator fills whole days.
        now = dt.datetime.now(dt.UTC).isoformat()
        traffic = generate(
            site=website.tracking_id,
            events=events,
            days=days,
            end=today,
            domain=DEMO_DOMAIN,
            tz=website.tz,
        )
        lines = (
            json.dumps(e) for e in with_custom_events(traffic, domain=DEMO_DOMAIN) if e["ts"] <= now
        )
        with tqdm(total=events, unit="ev", disable=quiet, file=sys.stderr, desc="demo") as bar:
            report = import_lines(lines, on_chunk=bar.update)
        # After the import: a goal's backfill job, run by a worker while the events came in,
        # would close days that later imported events never reach (refresh repairs 2 days).
        name, steps = FUNNEL
        with _jobs_in_this_process():
            for goal in GOALS:
                goal_create(website=website, **goal)
            funnel_create(website=website, name=name, steps=steps)
        # Snapshots now, so the first dashboards read them instead of months of raw events.
        if not quiet:
            self.stderr.write("demo: rolling up snapshots")
        rollup_website(website)
        refresh(website)
        self.stdout.write(
            f"Demo ready: {report.stored} events for {DEMO_DOMAIN}, {len(GOALS)} goals and "
            f"the funnel {name!r}.\n"
            f"Log in as {DEMO_EMAIL} with password {DEMO_PASSWORD}"
        )
