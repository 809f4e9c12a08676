"""Cold dashboards per period, in interleaved rounds, and the queries of one cold read.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_bench_query \\
    REDIS_URL=redis://127.0.0.1:6379/9 DATA_DIR=$(mktemp -d) \\
    .venv/bin/python bench/cold_read.py [--rounds 15] [--queries 7d,2y]

Runs on the database ``bench/query.py`` leaves (its first website), with the stats cache
on. First it rewrites the open day's snapshot as the refresh job does while traffic flows
(without it the open day is answered from raw data after two minutes). Then ``--rounds``
rounds, each one cold read (``cache.clear()``, ``stats.cache.forget()``, then
``stats.queries.dashboard``) of today, 7d, 30d, 12m and 2y; prints each period's median
and the 2y / 7d ratio. ``--queries`` lists, for the named periods, every SQL query of one
cold read with its time. A quick way to compare two revisions on one database, with the
interleaving ``bench/query.py`` uses for its cold figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from rollups import fill  # noqa: E402
from stats import cache as stats_cache  # noqa: E402
from stats import queries  # noqa: E402
from stats.periods import Period, for_days, from_query  # noqa: E402
from websites.models import Website  # noqa: E402


def cold(website: Website, period: Period) -> float:
    cache.clear()
    stats_cache.forget()
    t0 = time.perf_counter()
    queries.dashboard(website, period)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--queries", default="", help="periods to list the queries of, e.g. 7d,2y")
    args = parser.parse_args()
    settings.STATS_CACHE = True
    website = Website.objects.order_by("id").first()
    if website is None:
        raise SystemExit("no website: run bench/query.py first (it keeps sa_bench_query)")
    fill.refresh_open(website)
    stats_cache.publish_versions(website.id)
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(website.tz).date()
    periods = {
        key: from_query({"period": key}, website.tz, now=now)
        for key in ("today", "7d", "30d", "12m")
    }
    periods["2y"] = for_days(today - dt.timedelta(days=729), today, website.tz)
    times: dict[str, list[float]] = {key: [] for key in periods}
    for _ in range(args.rounds):
        for key, period in periods.items():
            times[key].append(cold(website, period))
    median = {key: statistics.median(values) for key, values in times.items()}
    for key, value in median.items():
        print(f"{key:>5}: cold median {value * 1e3:.1f} ms, min {min(times[key]) * 1e3:.1f} ms")
    print(f"2y / 7d: {median['2y'] / median['7d']:.2f}x (medians of {args.rounds} rounds)")
    for key in filter(None, args.queries.split(",")):
        cache.clear()
        stats_cache.forget()
        with CaptureQueriesContext(connection) as captured:
            queries.dashboard(website, periods[key])
        total = sum(float(q["time"]) for q in captured.captured_queries)
        print(f"--- {key}: {len(captured.captured_queries)} queries, {total * 1e3:.1f} ms")
        for q in captured.captured_queries:
            print(f"  {float(q['time']) * 1e3:6.1f} ms  {q['sql'][:140]}")


if __name__ == "__main__":
    main()
