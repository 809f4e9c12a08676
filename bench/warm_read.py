"""Where a warm dashboard read's time goes: the parts of ``stats.queries.dashboard`` on a hit.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_bench_query \\
    REDIS_URL=redis://127.0.0.1:6379/9 DATA_DIR=$(mktemp -d) .venv/bin/python bench/warm_read.py

Runs on the database ``bench/query.py`` leaves (its first website), with the stats cache
on. For 7 days and 2 years: a bare GET of a tiny value, the cache key, the cache lookup of
the bundle (with the raw GET and the unpickling apart), the rebuild of the answer from the
packed bundle, and the whole warm call; medians of 400 calls each, in microseconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402

from stats import cache as stats_cache  # noqa: E402
from stats import queries  # noqa: E402
from stats.filters import NO_FILTERS  # noqa: E402
from stats.periods import Period, from_query  # noqa: E402
from websites.models import Website  # noqa: E402


def median_us(call: Callable[[], object], n: int = 400) -> float:
    for _ in range(30):
        call()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def measure(name: str, website: Website, period: Period, client: Any) -> None:
    queries.dashboard(website, period)  # fill

    def key() -> str:
        return stats_cache.make_key(
            website.id,
            "dashboard-2",
            queries._sig(period),
            queries._sig(period.previous()),
            NO_FILTERS.active(),
            10,
        )

    full = cache.make_and_validate_key(key())
    raw = client.get(full)
    packed = pickle.loads(raw)
    parts = {
        "bare GET": median_us(lambda: cache.get("bench-warm-read-probe")),
        "key": median_us(key),
        "cache lookup": median_us(lambda: stats_cache.safe_get_many([key()])),
        "raw GET": median_us(lambda: client.get(full)),
        "unpickle": median_us(lambda: pickle.loads(raw)),
        "rebuild": median_us(lambda: queries._unpack(packed, period)),
        "whole warm read": median_us(lambda: queries.dashboard(website, period)),
    }
    print(
        f"{name} ({len(raw):,} bytes): "
        + ", ".join(f"{k} {v:.0f}" for k, v in parts.items())
        + f"; warm / bare {parts['whole warm read'] / parts['bare GET']:.1f}x"
    )


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    settings.STATS_CACHE = True
    website = Website.objects.order_by("id").first()
    if website is None:
        raise SystemExit("no website: run bench/query.py first (it keeps sa_bench_query)")
    today = dt.datetime.now(website.tz).date()
    cache.set("bench-warm-read-probe", b"x" * 16)
    # Django's RedisCache keeps its redis-py client factory private.
    client = cast(Any, cache)._cache.get_client("bench-warm-read-probe")
    measure("7d", website, from_query({"period": "7d"}, website.tz), client)
    two_years = {"period": "custom", "from": str(today - dt.timedelta(days=729)), "to": str(today)}
    measure("2y", website, from_query(two_years, website.tz), client)


if __name__ == "__main__":
    main()
