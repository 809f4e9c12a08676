"""Write realistic NDJSON events for `simple-analytics import-events` (benchmarks, demos).

    python bench/make_events.py --site TRACKING_ID --events 1000000 --days 90 > events.ndjson

Visitors arrive with a daily rhythm, browse 1-6 Zipf-distributed pages (page loads and SPA
navigations) a few seconds to minutes apart, and most send an exit beacon. Deterministic
for a given --seed. Lines are in time order.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys

USER_AGENTS = [
    (30, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
    (14, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"),
    (12, "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36"),
    (9, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15"),
    (8, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (7, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0"),
    (6, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
    (5, "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"),
    (4, "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"),
    (3, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (2, "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
]  # fmt: skip
REFERRERS = [
    (45, ""),
    (25, "https://www.google.com/"),
    (5, "https://www.bing.com/"),
    (4, "https://duckduckgo.com/"),
    (5, "https://t.co/abc"),
    (4, "https://www.reddit.com/r/webdev/"),
    (3, "https://news.ycombinator.com/"),
    (3, "https://www.linkedin.com/feed/"),
    (3, "https://github.com/some/repo"),
    (3, "https://blog.example.org/post"),
]
CAMPAIGNS = [(90, ""), (5, "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly"),
             (3, "?utm_source=twitter&utm_campaign=launch"), (2, "?ref=producthunt")]  # fmt: skip


def weighted(rng: random.Random, table: list[tuple[int, str]]) -> str:
    return rng.choices([v for _, v in table], weights=[w for w, _ in table])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--end", default=None, help="last day (YYYY-MM-DD), default today UTC")
    parser.add_argument("--domain", default="example.com")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    end = dt.date.fromisoformat(args.end) if args.end else dt.datetime.now(dt.UTC).date()
    start = dt.datetime.combine(end - dt.timedelta(days=args.days - 1), dt.time(), dt.UTC)
    paths = ["/"] + [f"/{p}" for p in ("pricing", "docs", "blog", "about", "signup", "login")]
    paths += [f"/blog/post-{i}" for i in range(150)] + [f"/docs/page-{i}" for i in range(50)]
    zipf = [1 / (i + 1) ** 1.1 for i in range(len(paths))]
    # ~2.95 events per visit on average (measured): --events is met to within a percent.
    visits = max(1, round(args.events / 2.95))
    seconds = args.days * 86400
    starts = []
    for _ in range(visits):
        while True:
            t = rng.random() * seconds
            hour = (t % 86400) / 3600
            if rng.random() < 0.35 + 0.65 * math.sin(math.pi * max(0.0, hour - 6) / 18) ** 2:
                break
        starts.append(t)
    starts.sort()
    out = []
    written = 0
    for n, t in enumerate(starts):
        ua = weighted(rng, USER_AGENTS)
        ip = f"10.{n % 250}.{(n // 250) % 250}.{rng.randrange(1, 250)}"
        url_tail = weighted(rng, CAMPAIGNS)
        referrer = weighted(rng, REFERRERS)
        at = start + dt.timedelta(seconds=t)
        for i in range(min(6, 1 + int(rng.expovariate(0.6)))):
            path = rng.choices(paths, weights=zipf)[0]
            out.append({"site": args.site, "type": "PAGE_VIEW" if i == 0 else "PATH_CHANGE",
                        "url": f"https://{args.domain}{path}{url_tail if i == 0 else ''}",
                        "referrer": referrer if i == 0 else "", "screen": 1440,
                        "ts": at.isoformat(), "ip": ip, "user_agent": ua})  # fmt: skip
            at += dt.timedelta(seconds=rng.randint(5, 240))
        if rng.random() < 0.8:
            out.append({"site": args.site, "type": "PAGE_EXIT", "url": f"https://{args.domain}{path}",
                        "engaged_ms": rng.randint(1000, 120_000), "ts": at.isoformat(),
                        "ip": ip, "user_agent": ua})  # fmt: skip
        if len(out) >= 10_000 or n == len(starts) - 1:
            out.sort(key=lambda e: e["ts"])
            # Events of later visits can predate the tail of this block; keep the tail
            # open until the next block is merged so lines stay in time order.
            cutoff = (start + dt.timedelta(seconds=starts[min(n + 1, len(starts) - 1)])).isoformat()
            ready = [e for e in out if e["ts"] < cutoff or n == len(starts) - 1]
            out = [e for e in out if not (e["ts"] < cutoff or n == len(starts) - 1)]
            for e in ready:
                sys.stdout.write(json.dumps(e, separators=(",", ":")) + "\n")
            written += len(ready)


if __name__ == "__main__":
    main()
