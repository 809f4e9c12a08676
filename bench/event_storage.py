"""Bytes per stored event on PostgreSQL: the event table with its indexes and TOAST.

    createdb -h 127.0.0.1 -U postgres sa_storage   # an empty database: it is migrated here
    DATA_DIR=$(mktemp -d) DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_storage \\
        .venv/bin/python bench/event_storage.py [--events 100000] [--without-ids] \\
        [--kinds pages,event,event-props]

Loads about ``--events`` realistic events (``core.synthetic``: 30 days, page views, SPA
navigations and exits) through the import path, which runs the same pipeline and writer
as live ingestion, each with a client event id as pixel.js sends it (three random 32-bit
numbers) unless ``--without-ids``. Then prints ``pg_total_relation_size`` of the event
table per stored event, with its parts, before and after a VACUUM.

One load per kind, each into emptied tables: ``pages`` is the traffic above; ``event``
turns every event of it into a custom event (``EVENT``, a name of 6 to 20 characters, no
props); ``event-props`` adds three props to each (``plan``, ``seats``, ``trial``: a
string, a number and a boolean, as in the ingestion contract's example).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from core.synthetic import generate  # noqa: E402
from simple_analytics.testing import make_user, make_website  # noqa: E402
from tracking.importer import import_lines  # noqa: E402
from tracking.models import Event, Session  # noqa: E402


def sizes() -> dict[str, int]:
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size(%s), pg_relation_size(%s), pg_indexes_size(%s)",
            [table, table, table],
        )
        total, heap, indexes = cursor.fetchone()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid = %s::regclass ORDER BY 1",
            [table],
        )
        parts = {"total": total, "heap": heap, "indexes": indexes}
        parts.update({f"  {name}": size for name, size in cursor.fetchall()})
    return parts


def report(title: str, rows: int) -> None:
    print(f"{title}: {rows} events")
    for name, size in sizes().items():
        print(f"  {name:<40} {size:>12,} bytes  {size / rows:7.1f} bytes/event")


NAMES = ["Signup", "Download", "Outbound Link: Click", "Add to cart", "Purchase"]
PLANS = ["free", "pro", "team", "enterprise"]
KINDS = ("pages", "event", "event-props")


def as_kind(event: dict[str, Any], kind: str, rng: random.Random) -> dict[str, Any]:
    """``event`` as the kind's traffic sends it: unchanged, or a custom event on its page."""
    if kind == "pages":
        return event
    event = {k: v for k, v in event.items() if k != "engaged_ms"}
    event.update(type="EVENT", name=rng.choice(NAMES))
    if kind == "event-props":
        event["props"] = {
            "plan": rng.choice(PLANS),
            "seats": rng.randint(1, 50),
            "trial": rng.random() < 0.3,
        }
    return event


def load(kind: str, args: argparse.Namespace) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Event._meta.db_table}, {Session._meta.db_table}")
    website = make_website(owner=make_user(f"{uuid.uuid4().hex}@bench.example"))
    rng = random.Random(7)

    def lines() -> Iterator[str]:
        end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        for event in generate(site=website.tracking_id, events=args.events, days=30, end=end):
            event = as_kind(event, kind, rng)
            if not args.without_ids:
                event["id"] = "-".join(str(rng.getrandbits(32)) for _ in range(3))
            yield json.dumps(event)

    result = import_lines(lines())
    print(f"\n== {kind}: imported {result.stored} events ({dict(result.dropped)} dropped)")
    rows = Event.objects.filter(website=website).count()
    with_ids = Event.objects.filter(website=website, dedup_key__isnull=False).count()
    print(f"events with a client id: {with_ids}")
    by_type = Event.objects.filter(website=website).values_list("type").annotate(n=Count("id"))
    print(f"by type: {dict(by_type)}")
    report("after loading", rows)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Event._meta.db_table}")
    report("after VACUUM ANALYZE", rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--without-ids", action="store_true")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS)
    )
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := set(kinds) - set(KINDS):
        sys.exit(f"unknown kinds: {', '.join(sorted(unknown))}")
    if connection.vendor != "postgresql":
        sys.exit("needs DATABASE_URL=postgres://... (an empty database)")
    call_command("migrate", verbosity=0)
    for kind in kinds:
        load(kind, args)


if __name__ == "__main__":
    main()
