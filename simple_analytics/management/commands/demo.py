"""``simple-analytics demo``: a demo account and website with realistic traffic, custom
events, goals and a funnel, so every panel of the dashboard has something to show."""

from __future__ import annotations

import datetime as dt
import heapq
import json
import random
import sys
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from core.synthetic import BOT_UA, generate
from goals.models import GoalKind
from goals.services import funnel_create, goal_create
from jobs.tasks import request_refresh
from tracking.importer import import_lines
from websites.models import Website
from websites.services import website_create

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-analytics"  # a demo account on the operator's own machine
DEMO_DOMAIN = "demo.example.com"

GOALS: list[dict[str, str]] = [
    {"kind": GoalKind.EVENT, "event_name": "Signup"},
    {"kind": GoalKind.EVENT, "event_name": "Signup", "prop_key": "plan", "prop_value": "pro"},
    {"kind": GoalKind.PAGE, "page_pattern": "/pricing"},
    {"kind": GoalKind.PAGE, "page_pattern": "/signup"},
]
FUNNEL = ("Pricing to signup", ["Visit /pricing", "Visit /signup", "Signup"])
PLANS = [(60, "free"), (30, "pro"), (10, "team")]
BILLING = [(70, "monthly"), (30, "yearly")]
FILES = [
    (5, "/files/price-list.pdf"),
    (3, "/files/whitepaper.pdf"),
    (2, "/files/sample-data.csv"),
    (1, "/downloads/demo-shop-1.4.dmg"),
]
OUTBOUND = [
    (5, "https://github.com/demo-shop/shop"),
    (3, "https://www.youtube.com/watch?v=demo"),
    (2, "https://twitter.com/demoshop"),
    (1, "https://docs.python.org/3/"),
]


def _pick(rng: random.Random, table: list[tuple[int, str]]) -> str:
    return rng.choices([v for _, v in table], weights=[w for w, _ in table])[0]


def with_custom_events(
    events: Iterable[dict[str, Any]], *, domain: str, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """``events`` (in time order) with what their visitors did on the way, still in time
    order: some pricing visits go on to /signup, some sign-ups (``Signup`` with a plan),
    downloads from the docs, outbound clicks from the blog, newsletter sign-ups."""
    rng = random.Random(seed)
    pending: list[tuple[str, int, dict[str, Any]]] = []
    seq = 0

    def later(event: dict[str, Any], seconds: int, path: str, **body: Any) -> None:
        nonlocal seq
        at = dt.datetime.fromisoformat(event["ts"]) + dt.timedelta(seconds=seconds)
        extra = {
            "site": event["site"],
            "url": f"https://{domain}{path}",
            "ts": at.isoformat(),
            "ip": event["ip"],
            "user_agent": event["user_agent"],
            **body,
        }
        heapq.heappush(pending, (extra["ts"], seq, extra))
        seq += 1
        if extra["type"] == "PATH_CHANGE":
            follow(extra)

    def follow(event: dict[str, Any]) -> None:
        # Each follow-up comes 1-4 s after its page, before the generator's next one (5 s on).
        path = urlsplit(event["url"]).path
        if path == "/pricing" and rng.random() < 0.22:
            later(event, 3, "/signup", type="PATH_CHANGE", screen=event.get("screen"))
        elif path == "/signup" and rng.random() < 0.45:
            props = {"plan": _pick(rng, PLANS), "billing": _pick(rng, BILLING)}
            later(event, 1, path, type="EVENT", name="Signup", props=props)
        elif path.startswith("/docs") and rng.random() < 0.08:
            props = {"url": f"https://{domain}{_pick(rng, FILES)}"}
            later(event, 4, path, type="EVENT", name="File Download", props=props)
        elif path.startswith("/blog/") and rng.random() < 0.06:
            props = {"url": _pick(rng, OUTBOUND)}
            later(event, 4, path, type="EVENT", name="Outbound Link: Click", props=props)
        elif path == "/" and rng.random() < 0.03:
            later(event, 2, path, type="EVENT", name="Newsletter")

    for event in events:
        while pending and pending[0][0] <= event["ts"]:
            yield heapq.heappop(pending)[2]
        yield event
        if event["type"] in ("PAGE_VIEW", "PATH_CHANGE") and event["user_agent"] != BOT_UA:
            follow(event)
    while pending:
        yield heapq.heappop(pending)[2]


class Command(BaseCommand):
    help = (
        "Create a demo account and website with 90 days of realistic traffic, custom events, "
        "goals and a funnel."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=150_000)
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
        Website.objects.filter(owner=user, domain=DEMO_DOMAIN).delete()
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
        for goal in GOALS:
            goal_create(website=website, **goal)
        name, steps = FUNNEL
        funnel_create(website=website, name=name, steps=steps)
        request_refresh(report.website_ids)
        self.stdout.write(
            f"Demo ready: {report.stored} events for {DEMO_DOMAIN}, {len(GOALS)} goals and "
            f"the funnel {name!r}.\n"
            f"Log in as {DEMO_EMAIL} with password {DEMO_PASSWORD}"
        )
