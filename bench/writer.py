"""CPU and wall time of ``tracking.writer.write_events`` in-process, with a cProfile.

    DATA_DIR=$(mktemp -d) DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_prof \\
        .venv/bin/python bench/writer.py          # PostgreSQL (the database must exist)
    DATA_DIR=$(mktemp -d) .venv/bin/python bench/writer.py   # SQLite

Writes 300 batches of 16 enriched events (the size of a group commit at c=32 per worker)
and prints events/s, CPU microseconds per event, ms per batch and the top of the profile.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.core.management import call_command  # noqa: E402

from simple_analytics.testing import DESKTOP_UA, IPHONE_UA, make_user, make_website, site_of  # noqa: E402
from tracking import pipeline  # noqa: E402
from tracking.payload import from_dict  # noqa: E402
from tracking.writer import write_events  # noqa: E402


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
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

    batches = [[event() for _ in range(16)] for _ in range(300)]
    n = sum(len(b) for b in batches)
    profile = cProfile.Profile()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    profile.enable()
    for batch in batches:
        write_events(batch)
    profile.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(
        f"{n} events in {len(batches)} batches: {n / wall:.0f} ev/s, "
        f"{cpu / n * 1e6:.0f} us CPU/event, {wall / len(batches) * 1000:.1f} ms/batch"
    )
    pstats.Stats(profile).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
