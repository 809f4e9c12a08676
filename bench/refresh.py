"""The open day's refresh: full recompute (before) against incremental (after), one run.

    .venv/bin/python bench/refresh.py --events 1000000 [--new 1000] [--rounds 5]
    .venv/bin/python bench/refresh.py --events 10000000 --db-name sa_bench_refresh10m
    .venv/bin/python bench/refresh.py --events 1000000 --reuse   # rounds only, same database
    .venv/bin/python bench/refresh.py --events 100000 --db-name sa_bench_r100k --redis-db 5

1. Creates a fresh PostgreSQL database (``--db-name``, dropped first) and a website (UTC)
   with the goals and funnel of ``core.synthetic``, then loads ``--events`` events of the
   current UTC day with one INSERT ... SELECT generate_series per table (the writer and
   ``import-events`` take minutes per million): sessions of five events (a view, two path
   changes with engagement reports, a custom event, an exit), spread from midnight to two
   minutes ago, half the visitors returning later that day. VACUUM ANALYZE.
2. Builds the open hour's and day's running totals (``rollups.incremental``, timed: the
   one-off cost of reading the whole day, paid again after a goal change or an import).
3. Rounds: ``--new`` events through the real pipeline and writer (250 visitors whose
   sessions go on from round to round), then the incremental refresh
   (``rollups.fill.refresh_open``) and the full recompute the refresh did before
   (``bucket_snapshot`` of the open hour and day, replaced), each timed; medians.
4. The re-read of the last ``MARGIN`` of events at the day's average rate (timed apart:
   the load ends minutes before the rounds, so the rounds do not pay it), and the check
   that the incremental snapshot equals the full recompute (exit status 1 otherwise).

``--reuse`` keeps the database of an earlier run (same ``--db-name``; ``--events`` only
labels the figures) and skips 1 and 2: more rounds on the same day, later.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

HOST = "127.0.0.1"
ADMIN_DSN = f"postgres://postgres@{HOST}:5432/postgres"


def pg(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def load(website_id: int, events: int, midnight: dt.datetime, until: dt.datetime) -> None:
    """``events`` events in sessions of five, spread over ``[midnight, until)``."""
    from django.db import connection

    sessions = events // 5
    visitors = max(1, sessions // 2)
    span = (until - midnight).total_seconds() - 300
    start = f"'{midnight.isoformat()}'::timestamptz + ((g::float8 * {span} / {sessions}) * interval '1 second')"
    path = "'/p' || ((g * 7 + {k} * 13) % 300)"
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO tracking_session (id, website_id, visitor_id, started_at, last_seen_at,
                duration_s, entry_path, exit_path, pageviews, is_bounce, has_exit, browser, os,
                device, source, referrer_host, utm_source, utm_medium, utm_campaign,
                utm_content, utm_term, channel, screen, screen_size, country, region, city,
                language, minute_started_at, minute_pageviews, engaged_ms, view_scroll)
            SELECT g, {website_id}, 1000003 + (g % {visitors})::bigint * 7919, {start},
                {start} + interval '240 seconds', 240, {path.format(k=0)}, {path.format(k=2)},
                3, false, true, (ARRAY['Chrome','Firefox','Safari','Edge','Opera'])[g % 5 + 1],
                (ARRAY['Windows','macOS','Linux'])[g % 3 + 1],
                (ARRAY['desktop','mobile','tablet'])[g % 3 + 1],
                (ARRAY['','Google','Bing','Twitter','Hacker News','Reddit','DuckDuckGo'])[g % 7 + 1],
                '', (ARRAY['','newsletter','twitter'])[g % 3 + 1], '', '', '', '', '', 1280,
                'laptop', (ARRAY['DE','GB','US','FR',''])[g % 5 + 1], '', '', 'en',
                {start} + interval '120 seconds', 2, 15000, 80
            FROM generate_series(1, {sessions}) AS g
            """
        )
        cur.execute(
            f"""
            INSERT INTO tracking_event (website_id, session_id, type, path, created_at,
                engaged_ms, scroll_pct, engaged_view, engaged_path, name, props)
            SELECT {website_id}, g,
                (ARRAY['PAGE_VIEW','PATH_CHANGE','PATH_CHANGE','EVENT','PAGE_EXIT'])[k + 1],
                CASE k WHEN 0 THEN {path.format(k=0)} WHEN 1 THEN {path.format(k=1)}
                    ELSE {path.format(k=2)} END,
                {start} + k * interval '60 seconds',
                CASE k WHEN 1 THEN 5000 WHEN 2 THEN 3000 WHEN 4 THEN 7000 END,
                CASE k WHEN 1 THEN 50 WHEN 4 THEN 80 END,
                CASE WHEN k IN (1, 2, 4) THEN true END,
                CASE k WHEN 1 THEN {path.format(k=0)} WHEN 2 THEN {path.format(k=1)} END,
                CASE WHEN k = 3 THEN (CASE WHEN g % 3 = 0 THEN 'Signup' ELSE 'Download' END) END,
                CASE WHEN k = 3 AND g % 3 = 0 THEN
                    jsonb_build_object('plan', (ARRAY['free','pro','team'])[g % 9 / 3 + 1]) END
            FROM generate_series(1, {sessions}) AS g, generate_series(0, 4) AS k
            """
        )
        cur.execute(f"SELECT setval(pg_get_serial_sequence('tracking_session', 'id'), {sessions})")


def timed(fn: Any, cpu: list[float] | None = None) -> float:
    """Wall time of ``fn()``; its CPU time in this process is appended to ``cpu``. The
    garbage of what ran before is collected first, untimed: the full recompute's made
    collections of 0.1-0.4 s that fell into the next refresh timed."""
    gc.collect()
    t, c = time.perf_counter(), time.process_time()
    fn()
    if cpu is not None:
        cpu.append(time.process_time() - c)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db-name", default="sa_bench_refresh")
    parser.add_argument("--reuse", action="store_true", help="rounds only, on an earlier run")
    parser.add_argument("--redis-db", type=int, default=2, help="Redis database number")
    args = parser.parse_args()
    if not args.db_name.startswith("sa_bench_"):
        raise SystemExit("--db-name must start with sa_bench_ (the database is dropped first)")
    if not args.reuse:
        pg(ADMIN_DSN, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        pg(ADMIN_DSN, f'CREATE DATABASE "{args.db_name}"')
    os.environ["DATABASE_URL"] = f"postgres://postgres@{HOST}:5432/{args.db_name}"
    os.environ["REDIS_URL"] = f"redis://{HOST}:6379/{args.redis_db}"
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="sa_bench_h2_"))

    from bench.bootstrap import revision, setup_django

    setup_django()
    from django.core.management import call_command
    from django.utils import timezone

    from core.calendar import local_midnight
    from core.synthetic import FUNNEL, GOALS
    from goals.services import funnel_create, goal_create
    from rollups import fill, incremental
    from rollups.buckets import bucket_snapshot, bucket_start, iter_buckets
    from rollups.models import Granularity, Snapshot, SnapshotRow, Watermark
    from simple_analytics.testing import make_user, make_website, record_events
    from stats import measures
    from tracking.models import Event
    from websites.models import Website

    call_command("migrate", verbosity=0)
    if args.reuse:
        website = Website.objects.get()
        now = website.created_at
    else:
        website = make_website(owner=make_user(), timezone="UTC")
        for goal in GOALS:
            goal_create(website=website, **goal)
        funnel_create(website=website, name=FUNNEL[0], steps=FUNNEL[1])
        now = timezone.now()
    midnight = local_midnight(now.date(), website.tz)
    print(f"revision {revision()}; {args.events:,} events from {midnight:%H:%M} to {now:%H:%M}")
    if not args.reuse:
        seconds = timed(lambda: load(website.id, args.events, midnight, now))
        pg(os.environ["DATABASE_URL"], "VACUUM ANALYZE")
        print(f"load (generate_series) + VACUUM ANALYZE: {seconds:.1f} s")

    def buckets(at: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
        out: list[tuple[str, dt.datetime, dt.datetime]] = []
        for g in (Granularity.HOUR, Granularity.DAY):
            b = bucket_start(g, at, website.tz)
            out += [(g, s, e) for s, e in iter_buckets(g, b, at, website.tz)]
        return out

    def full(at: dt.datetime) -> None:
        # What refresh_open did before: recompute the open hour and day from raw data.
        for g, b, e in buckets(at):
            with Watermark.locked(website, g) as wm:
                fill._replace(website, g, b, bucket_snapshot(website, g, b, e, at))
                wm.bump()

    build = timed(lambda: fill.refresh_open(website, now=timezone.now()))
    what = "catch-up refresh" if args.reuse else "build of the running totals (once)"
    print(f"{what}: {build:.1f} s")

    incr: list[float] = []
    before: list[float] = []
    incr_cpu: list[float] = []
    before_cpu: list[float] = []
    for r in range(args.new and args.rounds):
        base = timezone.now()
        record_events(
            website,
            [
                {
                    "type": "PAGE_VIEW",
                    "at": base + dt.timedelta(microseconds=i),
                    "ip": f"10.9.{(i % 250) // 200}.{i % 200}",
                    "url": f"https://example.com/new/{(i + r) % 40}",
                }
                for i in range(args.new)
            ],
        )
        at = timezone.now()
        incr.append(timed(lambda at=at: fill.refresh_open(website, now=at), incr_cpu))
        full_at = timezone.now()
        before.append(timed(lambda at=full_at: full(at), before_cpu))
        print(
            f"round {r + 1}: incremental {incr[-1] * 1000:.0f} ms "
            f"(CPU here {incr_cpu[-1] * 1000:.0f} ms), full {before[-1]:.2f} s "
            f"(CPU here {before_cpu[-1]:.2f} s); load {os.getloadavg()[0]:.1f}"
        )
    # The re-read of the events of the last MARGIN at the day's average rate.
    rate = args.events / (now - midnight).total_seconds()
    a = midnight + (now - midnight) / 2
    window = Event.objects.filter(
        website=website, created_at__gte=a, created_at__lt=a + incremental.MARGIN
    ).values_list("id", "created_at", "session_id")
    reread = statistics.median(timed(lambda: incremental.fetch(window.all())) for _ in range(5))
    print(
        f"re-read of {incremental.MARGIN.seconds} s of events at the day's rate "
        f"({rate * incremental.MARGIN.seconds:,.0f} events): {reread * 1000:.0f} ms"
    )
    # The check: the incremental snapshot equals the full recompute of the same instant.
    at = timezone.now()
    fill.refresh_open(website, now=at)
    bad = 0
    for g, b, e in buckets(at):
        contents = bucket_snapshot(website, g, b, e, at)
        assert contents is not None
        snap, rows = contents
        stored = Snapshot.objects.get(website=website, granularity=g, start=b)
        fields = ("dimension", "value", *measures.STORED_ROW)
        got = sorted(
            tuple(getattr(r, f) for f in fields)
            for r in SnapshotRow.objects.filter(website=website, granularity=g, start=b)
        )
        want = sorted(tuple(getattr(r, f) for f in fields) for r in rows)
        same = all(getattr(snap, m) == getattr(stored, m) for m in measures.SUMMARY)
        if not same or got != want:
            bad += 1
            print(f"MISMATCH in the {g} bucket {b}")
    load_avg = os.getloadavg()
    print(
        f"\n{args.events:,} events on the day, {args.new} new per round, {len(incr)} rounds; "
        f"load average {load_avg[0]:.2f}\n"
        f"  incremental refresh: median {statistics.median(incr) * 1000:.0f} ms "
        f"(min {min(incr) * 1000:.0f}; CPU in this process {statistics.median(incr_cpu) * 1000:.0f})\n"
        f"  full recompute:      median {statistics.median(before) * 1000:.0f} ms "
        f"(min {min(before) * 1000:.0f}; CPU in this process {statistics.median(before_cpu) * 1000:.0f})\n"
        f"  ratio: {statistics.median(before) / statistics.median(incr):.0f}x; build "
        f"{build:.1f} s; margin re-read {reread * 1000:.0f} ms; snapshots equal: {bad == 0}"
    )
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
