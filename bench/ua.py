"""User-Agent parsing throughput: uncached (every parse new) and cached (a realistic mix).

.venv/bin/python bench/ua.py
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from core import ua as ua_mod
from core.tests.test_enrichment import UAS


def run(n: int, agents: list[str]) -> float:
    start = time.perf_counter()
    for i in range(n):
        ua_mod.parse_agent(agents[i % len(agents)])
    return n / (time.perf_counter() - start)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    base = list(UAS.values())
    # Uncached: make every string unique (a version suffix), clear the cache each round.
    unique = [f"{base[i % len(base)]} build/{i}" for i in range(5000)]
    uncached = []
    for _ in range(5):
        ua_mod._parse.cache_clear()
        uncached.append(run(len(unique), unique))
    # Cached: 2,000 distinct agents in a Zipf-like mix, 50,000 parses.
    rng = random.Random(1)
    pool = unique[:2000]
    weights = [1 / (i + 1) for i in range(len(pool))]
    mix = rng.choices(pool, weights=weights, k=50_000)
    ua_mod._parse.cache_clear()
    cached = [run(len(mix), mix) for _ in range(5)]
    print(f"uncached parses/s (median of 5): {statistics.median(uncached):,.0f}")
    print(f"cached, realistic mix parses/s (median of 5): {statistics.median(cached):,.0f}")


if __name__ == "__main__":
    main()
