"""Bytes per stored event on PostgreSQL: the event table with its indexes and TOAST.

    createdb -h 127.0.0.1 -U postgres sa_storage   # an empty database: it is migrated here
    DATA_DIR=$(mktemp -d) DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_storage \\
        .venv/bin/python bench/event_storage.py [--events 100000] [--without-ids]

Loads about ``--events`` realistic events (``core.synthetic``: 30 days, page views, SPA
navigations and exits) through the import path, which runs the same pipeline and writer
as live ingestion, each with a client event id as pixel.js sends it (three random 32-bit
numbers) unless ``--without-ids``. Then prints ``pg_total_relation_size`` of the event
table per stored event, with its parts, before and after a VACUUM.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from core.synthetic import generate  # noqa: E402
from simple_analytics.testing import make_user, make_website  # noqa: E402
from tracking.importer import import_lines  # noqa: E402
from tracking.models import Event  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--without-ids", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("needs DATABASE_URL=postgres://... (an empty database)")
    call_command("migrate", verbosity=0)
    website = make_website(owner=make_user(f"{uuid.uuid4().hex}@bench.example"))
    rng = random.Random(7)

    def lines() -> Iterator[str]:
        end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        for event in generate(site=website.tracking_id, events=args.events, days=30, end=end):
            if not args.without_ids:
                event["id"] = "-".join(str(rng.getrandbits(32)) for _ in range(3))
            yield json.dumps(event)

    result = import_lines(lines())
    print(f"imported {result.stored} events ({dict(result.dropped)} dropped)")
    rows = Event.objects.filter(website=website).count()
    with_ids = Event.objects.filter(website=website, dedup_key__isnull=False).count()
    print(f"events with a client id: {with_ids}")
    report("after loading", rows)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Event._meta.db_table}")
    report("after VACUUM ANALYZE", rows)


if __name__ == "__main__":
    main()
