"""Per-request cost of the ingestion rate limiter (``tracking.ratelimit.check``), in-process.

    DATA_DIR=$(mktemp -d) REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/ratelimit.py

Calls ``check`` for 20,000 requests from 5,000 client IPs (10% IPv6) to one website with
the production default limits: with Redis as the cache when ``REDIS_URL`` is set (the
production layout: counted in process memory, added to Redis in batches) and with the other caches (local
memory; the file cache of the embedded default), which count in process memory. Prints wall and CPU microseconds per request, and the
same with the limits off (the floor). Also the other per-request additions of the
ingestion hardening: the event id check, the dedup key and the referrer spam lookup.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django

setup_django()

from django.conf import settings  # noqa: E402
from django.test import override_settings  # noqa: E402
from redis import Redis  # noqa: E402

from core.referrers import is_referrer_spam, referrer_host  # noqa: E402
from tracking import ratelimit  # noqa: E402
from tracking.payload import from_dict  # noqa: E402

N = 20_000


def ips() -> list[str]:
    rng = random.Random(3)
    pool = [
        f"2001:db8:{rng.randrange(65536):x}:{rng.randrange(65536):x}::{rng.randrange(65536):x}"
        if rng.random() < 0.1
        else f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(5000)
    ]
    return [rng.choice(pool) for _ in range(N)]


def timed(fn: Callable[[str], object], args: list[str]) -> tuple[float, float]:
    """Microseconds of wall and CPU time per call."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for ip in args:
        fn(ip)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return wall / len(args) * 1e6, cpu / len(args) * 1e6


def fixed_clock(at: float) -> Callable[[], float]:
    return lambda: at


def caches(backend: str, **options: str) -> dict[str, dict[str, str]]:
    return {"default": {"BACKEND": f"django.core.cache.backends.{backend}", **options}}


def measure(name: str, cache_settings: dict[str, dict[str, str]], limits: tuple[int, int]) -> None:
    addresses = ips()
    site = "AbCdEfGh1234"
    with override_settings(
        CACHES=cache_settings, INGEST_RATE_LIMIT_IP=limits[0], INGEST_RATE_LIMIT_WEBSITE=limits[1]
    ):
        ratelimit.resume()
        runs = []
        for _ in range(3):  # best of 3 against noise from other processes
            # A new window for each run: fresh counters, as in steady traffic.
            start = random.randrange(10**6, 10**7) * 60 + 1.0
            with mock.patch.object(ratelimit, "_clock", fixed_clock(start)):
                runs.append(timed(lambda ip: ratelimit.check(ip, site), addresses))
        wall, cpu = min(runs)
        print(f"  {name:<42} {wall:7.1f} us wall  {cpu:7.1f} us CPU per request")


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    defaults = (600, 300_000)
    print(f"ratelimit.check, {N} requests, limits {defaults} per minute:")
    locmem = caches("locmem.LocMemCache")
    measure("limits off (floor)", locmem, (0, 0))
    measure("local memory cache", locmem, defaults)
    with tempfile.TemporaryDirectory() as tmp:
        files = caches("filebased.FileBasedCache", LOCATION=tmp)
        measure("file cache (embedded default)", files, defaults)
    redis_url = os.environ.get("REDIS_URL") or settings.REDIS_URL
    if redis_url:
        on_redis = caches("redis.RedisCache", LOCATION=redis_url, KEY_PREFIX="sa-bench")
        measure("Redis (production: batched EVALSHA)", on_redis, defaults)
        # The floor of any one-round-trip design: a bare PING on a reused redis-py client.
        client = Redis.from_url(redis_url)
        wall, cpu = min(timed(lambda ip: client.ping(), ips()) for _ in range(3))
        print(
            f"  {'(reference: redis-py PING round trip)':<42} {wall:7.1f} us wall  {cpu:7.1f} us CPU"
        )
    else:
        print("  Redis: skipped (set REDIS_URL)")

    print("other per-request additions:")
    body = {
        "site": "AbCdEfGh1234",
        "type": "PAGE_VIEW",
        "url": "https://example.com/a",
        "referrer": "https://news.ycombinator.com/item?id=1",
    }
    with_id = {**body, "id": "3141592653-589793238-4626433832"}
    calls: list[tuple[str, Callable[[], object]]] = [
        ("payload without id", lambda: from_dict(body)),
        ("payload with id (validated)", lambda: from_dict(with_id)),
        ("referrer host + spam lookup", lambda: is_referrer_spam(referrer_host(body["referrer"]))),
    ]
    for label, fn in calls:
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(N):
                fn()
            samples.append((time.perf_counter() - t0) / N * 1e6)
        print(f"  {label:<42} {statistics.median(samples):7.2f} us")


if __name__ == "__main__":
    main()
