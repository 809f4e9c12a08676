"""Time and peak memory of ``websites.services.website_delete`` for a site with raw data.

    DATA_DIR=$(mktemp -d) DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_bench_delete \\
        .venv/bin/python bench/delete_website.py --sessions 300000   # the database must exist
    DATA_DIR=$(mktemp -d) .venv/bin/python bench/delete_website.py  # SQLite

Creates a website with ``--sessions`` sessions of ``--events`` events each and
``--snapshot-rows`` daily snapshot rows (rows written in bulk, not through ingestion). Opens
the admin's page that confirms deleting its owner (time, size), then deletes the website and
prints the wall time, the statements run and the growth of the process's peak RSS during
the delete. ``--keep``: another website with as much data stays, so the delete cannot take
whole tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from rollups.models import Granularity, SnapshotRow  # noqa: E402
from simple_analytics.testing import make_user, make_website  # noqa: E402
from tracking.models import Event, Session  # noqa: E402
from websites.models import Website  # noqa: E402
from websites.services import website_delete  # noqa: E402

CHUNK = 2_000


def fill(website: Website, sessions: int, events: int, snapshot_rows: int) -> None:
    """Bulk rows, a chunk of sessions at a time, so the fill itself keeps little in memory."""
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for start in range(0, sessions, CHUNK):
        rows = Session.objects.bulk_create(
            Session(
                website=website,
                visitor_id=start + n,
                started_at=at,
                last_seen_at=at,
                entry_path="/",
                exit_path="/",
                pageviews=events,
                device="desktop",
            )
            for n in range(min(CHUNK, sessions - start))
        )
        Event.objects.bulk_create(
            Event(website=website, session_id=s.pk, type="PAGE_VIEW", path="/", created_at=at)
            for s in rows
            for _ in range(events)
        )
        del rows
        reset_queries()
    for start in range(0, snapshot_rows, CHUNK):
        SnapshotRow.objects.bulk_create(
            SnapshotRow(
                website=website,
                granularity=Granularity.DAY,
                start=at - dt.timedelta(days=n // 500),
                dimension="page",
                value=f"/page/{n % 500}",
            )
            for n in range(start, min(start + CHUNK, snapshot_rows))
        )
        reset_queries()


def confirm_page(user_id: int) -> None:
    """The admin's page that confirms deleting the user: it lists what would go with them."""
    root = make_user(f"root-{uuid.uuid4().hex}@example.com")
    root.is_staff = root.is_superuser = True
    root.save()
    client = Client()
    client.force_login(root)
    started = time.perf_counter()
    response = client.get(reverse("admin:auth_user_delete", args=[user_id]), HTTP_HOST="localhost")
    seconds = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    print(f"admin confirmation page: {seconds:.2f} s, {len(response.content) / 1024:,.0f} KiB")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=3, help="events per session")
    parser.add_argument("--snapshot-rows", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="a second website keeps its data")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    owner = make_user(f"bench-{uuid.uuid4().hex}@example.com")
    doomed = make_website(owner, "doomed.example")
    fill(doomed, args.sessions, args.events, args.snapshot_rows)
    if args.keep:
        fill(make_website(owner, "kept.example"), args.sessions, args.events, args.snapshot_rows)
    confirm_page(owner.pk)
    before = rss_mib()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        website_delete(website=doomed)
    seconds = time.perf_counter() - started
    print(
        f"{connection.vendor}: {args.sessions:,} sessions, {args.sessions * args.events:,} events:"
        f" deleted in {seconds:.2f} s, {len(queries)} statements,"
        f" peak RSS +{rss_mib() - before:.1f} MiB ({rss_mib():.1f} MiB)"
    )
    for model in (Event, Session, SnapshotRow):
        model.objects.all()._raw_delete(connection.alias)


if __name__ == "__main__":
    main()
