"""What placing a visit costs per event: the country from iptocc's embedded data, and
country, region and city from a MaxMind-format City database (issue 14).

    .venv/bin/python bench/geo.py
    .venv/bin/python bench/geo.py --networks 200000 --lookups 200000

No real City database is downloaded: the bench writes one with ``--networks`` random /24
networks (IPv4, with region and city records, as GeoLite2-City holds about 4 million
networks in 70 MB), then times ``core.geo.Locator.locate`` over ``--lookups`` public
addresses (half inside the file's networks) with the default and with the file, and the
Accept-Language and screen steps of the pipeline. In-process, one thread; medians of
``--repeat`` rounds, per call.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import setup_django
from core.geo import Locator

CITIES = ["London", "Munich", "Paris", "Lyon", "Madrid", "Austin", "Osaka", "Pune"]


def write_database(path: str, networks: list[str]) -> None:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    rng = random.Random(2)
    writer = MMDBWriter(ip_version=6, database_type="Bench-City", ipv4_compatible=True)
    for network in networks:
        record = {
            "country": {"iso_code": rng.choice(["GB", "DE", "FR", "ES", "US", "JP", "IN"])},
            "subdivisions": [{"iso_code": rng.choice(["ENG", "BY", "IDF", "MD", "TX"])}],
            "city": {"names": {"en": rng.choice(CITIES), "de": "x"}},
        }
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(path)


def per_call(fn: Callable[[str], object], items: list[str], repeat: int) -> float:
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        rounds.append((time.perf_counter() - start) / len(items))
    return statistics.median(rounds)


def main() -> None:
    setup_django()
    from tracking.pipeline import primary_language, screen_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=50_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    firsts = [2, 5, 31, 37, 46, 62, 77, 81, 84, 89, 93, 109, 151, 176, 185]
    networks = sorted(
        {f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"}
        | {f"{a}.{b}.{c}.0/24" for a, b, c in ((81, 2, 69), (89, 160, 20))}
    )
    while len(networks) < args.networks:
        networks.append(f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
    networks = sorted(set(networks))
    inside = [
        n.replace(".0/24", f".{rng.randrange(1, 255)}")
        for n in rng.choices(networks, k=args.lookups // 2)
    ]
    outside = [
        f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(args.lookups - len(inside))
    ]
    ips = inside + outside
    rng.shuffle(ips)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench-city.mmdb")
        start = time.perf_counter()
        write_database(path, networks)
        size = Path(path).stat().st_size
        print(
            f"City database: {len(networks):,} networks, {size / 2**20:.1f} MiB, written in "
            f"{time.perf_counter() - start:.1f} s"
        )
        default, city = Locator().locate, Locator(path).locate
        rows = [
            ("country, embedded data (iptocc)", per_call(default, ips, args.repeat)),
            ("country, region, city (maxminddb + City file)", per_call(city, ips, args.repeat)),
        ]
    headers = ["de-DE,de;q=0.9,en;q=0.8", "en-US", "", "fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5"]
    rows.append(
        (
            "primary language (Accept-Language)",
            per_call(primary_language, headers * 2500, args.repeat),
        )
    )
    widths = [390, 1280, 1920, 800] * 2500
    rows.append(
        (
            "screen size class",
            per_call(lambda w: screen_size(int(w)), [str(w) for w in widths], args.repeat),
        )
    )
    print(f"\nper call, median of {args.repeat} rounds:")
    for name, seconds in rows:
        print(f"  {name:<48} {seconds * 1e9:8,.0f} ns")


if __name__ == "__main__":
    main()
