"""CPU and wall time of ``tracking.writer.write_events`` in-process, with a cProfile.

    DATA_DIR=$(mktemp -d) DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_prof \\
        .venv/bin/python bench/writer.py          # PostgreSQL (the database must exist)
    DATA_DIR=$(mktemp -d) .venv/bin/python bench/writer.py   # SQLite

Writes 300 batches (``--batches``) of 16 enriched events (the size of a group commit at c=32 per worker)
and prints events/s, CPU microseconds per event, ms per batch and the top of the profile.
On PostgreSQL also the CPU of the connection's backend per event, and, for one more batch
traced by libpq, its round trips (waits for the server) and psycopg's ``wait`` calls (each
one may hand the GIL to another thread). ``--spin``: a pure-Python thread spins beside
the writer, as a saturated event loop would fight it for the GIL (CPU figures then
include that thread; compare ms/batch).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from psycopg import pq  # noqa: E402

from simple_analytics.testing import DESKTOP_UA, IPHONE_UA, make_user, make_website, site_of  # noqa: E402
from systemtests.harness import proc_cpu  # noqa: E402
from tracking import pipeline  # noqa: E402
from tracking.payload import from_dict  # noqa: E402
from tracking.writer import write_events  # noqa: E402


def round_trips(write: Callable[[], object]) -> tuple[int, int]:
    """Round trips (runs of the server's messages in libpq's trace) and psycopg ``wait``
    calls of ``write()`` on PostgreSQL."""
    connection.ensure_connection()
    pg = connection.connection
    waits = 0
    real_wait = pg.wait

    def counted_wait(*args: Any, **kwargs: Any) -> Any:
        nonlocal waits
        waits += 1
        return real_wait(*args, **kwargs)

    with tempfile.TemporaryFile("w+") as out:
        pg.pgconn.trace(out.fileno())
        pg.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        pg.wait = counted_wait
        try:
            write()
        finally:
            del pg.wait
            pg.pgconn.untrace()
        out.seek(0)
        directions = [line.split("\t", 1)[0] for line in out if line.strip()]
    trips = sum(d == "B" and (i == 0 or directions[i - 1] != "B") for i, d in enumerate(directions))
    return trips, waits


def spin() -> None:
    n = 0
    while True:
        n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--spin", action="store_true", help="a thread spinning for the GIL")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    website = make_website(owner=make_user(f"{uuid.uuid4().hex}@bench.example"))
    site = site_of(website)
    rng = random.Random(1)
    now = dt.datetime.now(dt.UTC)

    def event() -> pipeline.IncomingEvent:
        body = {
            "site": website.tracking_id,
            "type": rng.choice(["PAGE_VIEW", "PATH_CHANGE", "PATH_CHANGE"]),
            "url": f"https://example.com/p{rng.randrange(200)}?utm_source=x",
            "referrer": "https://www.google.com/",
        }
        ip = f"10.0.{rng.randrange(20)}.{rng.randrange(250)}"
        ua = rng.choice([DESKTOP_UA, IPHONE_UA])
        result = pipeline.run(from_dict(body), site=site, ip=ip, user_agent=ua, at=now)
        assert isinstance(result, pipeline.IncomingEvent), result  # none of these is dropped
        return result

    batches = [[event() for _ in range(16)] for _ in range(args.batches)]
    n = sum(len(b) for b in batches)
    if args.spin:
        threading.Thread(target=spin, daemon=True).start()
    postgresql = connection.vendor == "postgresql"
    connection.ensure_connection()
    backend = [connection.connection.info.backend_pid] if postgresql else []
    profile = cProfile.Profile()
    wall0, cpu0, pg0 = time.perf_counter(), time.process_time(), proc_cpu(backend)
    profile.enable()
    for batch in batches:
        write_events(batch)
    profile.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(
        f"{n} events in {len(batches)} batches: {n / wall:.0f} ev/s, "
        f"{cpu / n * 1e6:.0f} us CPU/event, {wall / len(batches) * 1000:.1f} ms/batch"
    )
    if postgresql:
        pg_s = sum(proc_cpu(backend).values()) - sum(pg0.values())
        trips, waits = round_trips(lambda: write_events([event() for _ in range(16)]))
        print(
            f"PostgreSQL backend {pg_s / n * 1e6:.0f} us CPU/event; one more batch: "
            f"{trips} round trips, {waits} psycopg waits"
        )
    pstats.Stats(profile).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
