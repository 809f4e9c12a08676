"""Realistic synthetic traffic as ingestion events (for the demo and the benchmarks).

Visits arrive with a daily rhythm (quiet nights), a weekly one (quieter weekends), steady
growth over the range and an optional campaign spike; each visit views 1-6 Zipf-distributed
pages (a page load, then SPA navigations) a few seconds to minutes apart, and most send an
exit beacon. Deterministic for a seed; events come out in time order. ``with_custom_events``
adds what the visitors did (sign-ups, downloads, outbound clicks) for ``GOALS`` and ``FUNNEL``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

USER_AGENTS = [
    (
        30,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    ),
    (
        14,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    ),
    (
        12,
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    ),
    (
        9,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    ),
    (8, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (
        7,
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    ),
    (
        6,
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    ),
    (
        5,
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    ),
    (
        4,
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    ),
    (3, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (
        2,
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    ),
    (
        2,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/130.0.6723.90 Mobile/15E148 Safari/604.1",
    ),
]
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
CAMPAIGNS = [
    (92, ""),
    (4, "?utm_source=newsletter&utm_medium=email&utm_campaign=weekly"),
    (2, "?utm_source=twitter&utm_medium=social&utm_campaign=launch"),
    (2, "?ref=producthunt"),
]
# (weight, a /16 the registries allocated to the country, that country's Accept-Language).
COUNTRIES = [
    (30, "2.26", "en-US,en;q=0.9"),
    (12, "2.28", "de-DE,de;q=0.9,en;q=0.8"),
    (10, "2.96", "en-GB,en;q=0.9"),
    (7, "2.3", "fr-FR,fr;q=0.9,en;q=0.7"),
    (6, "14.96", "en-IN,hi;q=0.8"),
    (5, "9.168", "en-CA,fr-CA;q=0.7"),
    (4, "2.16", "nl-NL,nl;q=0.9,en;q=0.8"),
    (4, "139.82", "pt-BR,pt;q=0.9"),
    (3, "14.3", "ja-JP,ja;q=0.9"),
    (3, "2.136", "es-ES,es;q=0.9"),
    (3, "2.32", "it-IT,it;q=0.9"),
    (3, "14.2", "en-AU,en;q=0.9"),
    (2, "5.173", "pl-PL,pl;q=0.9"),
    (2, "2.0", "sv-SE,sv;q=0.9"),
    (2, "31.164", "de-CH,de;q=0.9,fr;q=0.8"),
    (2, "131.178", "es-MX,es;q=0.9"),
]
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SPIKE = "?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday"
PATHS = (
    [
        "/",
        "/pricing",
        "/docs",
        "/blog",
        "/about",
        "/signup",
        "/login",
        "/features",
        "/changelog",
        "/contact",
    ]
    + [f"/blog/post-{i}" for i in range(120)]
    + [f"/docs/page-{i}" for i in range(60)]
)
ZIPF = [1 / (i + 1) ** 1.1 for i in range(len(PATHS))]
EVENTS_PER_VISIT = 2.93  # measured: events per visit (returns and bots included)


def _pick(rng: random.Random, table: list[tuple[int, str]]) -> str:
    return rng.choices([v for _, v in table], weights=[w for w, _ in table])[0]


def _intensity(
    t: dt.datetime, progress: float, spike: tuple[dt.datetime, dt.datetime] | None
) -> float:
    hour = t.hour + t.minute / 60
    daily = 0.25 + 0.75 * math.sin(math.pi * max(0.0, hour - 5) / 19) ** 2
    weekly = 0.65 if t.weekday() >= 5 else 1.0
    growth = 0.6 + 0.8 * progress
    boost = 3.0 if spike and spike[0] <= t < spike[1] else 1.0
    return daily * weekly * growth * boost


def generate(
    *,
    site: str,
    events: int,
    days: int,
    end: dt.date,
    domain: str = "example.com",
    seed: int = 1,
    spike: bool = True,
    tz: dt.tzinfo = dt.UTC,
) -> Iterator[dict[str, Any]]:
    """About ``events`` NDJSON-ready dicts (ingestion body + ts, ip, user_agent) over the
    ``days`` local days ending ``end``, in time order."""
    rng = random.Random(seed)
    # Engagement draws come from their own generator: the rest of the traffic stays as it was.
    engage = random.Random(seed + 1)
    start = dt.datetime.combine(end - dt.timedelta(days=days - 1), dt.time(), tz)
    span = days * 86400.0
    spike_window = None
    if spike and days >= 14:
        s = start + dt.timedelta(days=int(days * 0.7))
        spike_window = (s, s + dt.timedelta(days=2))
    visits = max(1, round(events / EVENTS_PER_VISIT))
    # Rejection sampling of visit starts against the intensity (max 3.0 * 1.4 = 4.2).
    starts: list[tuple[float, int]] = []  # (offset, visitor number)
    while len(starts) < visits:
        offset = rng.random() * span
        t = start + dt.timedelta(seconds=offset)
        if rng.random() * 4.2 < _intensity(t, offset / span, spike_window):
            visitor = len(starts)
            starts.append((offset, visitor))
            # Some people come back later the same day: a second visit, same visitor.
            back = offset + rng.uniform(3600, 6 * 3600)
            if rng.random() < 0.15 and back < span:
                starts.append((back, visitor))
    starts.sort()
    pending: list[tuple[str, int, dict[str, Any]]] = []
    seq = 0
    for offset, n in starts:
        at = (start + dt.timedelta(seconds=offset)).astimezone(dt.UTC)
        # Emit every queued event that can no longer be overtaken by a later visit.
        cutoff = at.isoformat()
        while pending and pending[0][0] <= cutoff:
            yield heapq.heappop(pending)[2]
        # A visitor's device and address follow from its number, so a return visit matches.
        person = random.Random(seed * 1_000_003 + n)
        ua = _pick(person, USER_AGENTS)
        _, prefix, language = person.choices(COUNTRIES, weights=[c[0] for c in COUNTRIES])[0]
        ip = f"{prefix}.{(n // 250) % 250}.{n % 250 + 1}"
        if rng.random() < 0.02:
            # A crawler: dropped by ingestion and counted as a bot.
            event: dict[str, Any] = {
                "site": site,
                "type": "PAGE_VIEW",
                "url": f"https://{domain}/",
                "ts": at.isoformat(),
                "ip": ip,
                "user_agent": BOT_UA,
            }
            heapq.heappush(pending, (event["ts"], seq, event))
            seq += 1
            continue
        in_spike = spike_window and spike_window[0] <= at < spike_window[1] and rng.random() < 0.6
        tail = SPIKE if in_spike else _pick(rng, CAMPAIGNS)
        referrer = "" if in_spike else _pick(rng, REFERRERS)
        path = "/"
        report: dict[str, int] = {}  # of the page being left: sent with the next event
        for i in range(min(6, 1 + int(rng.expovariate(0.6)))):
            path = rng.choices(PATHS, weights=ZIPF)[0]
            event = {
                "site": site,
                "type": "PAGE_VIEW" if i == 0 else "PATH_CHANGE",
                "url": f"https://{domain}{path}{tail if i == 0 else ''}",
                "referrer": referrer if i == 0 else "",
                "screen": 390 if "Mobile" in ua else 1440,
                "ts": at.isoformat(),
                "ip": ip,
                "user_agent": ua,
                "accept_language": language,
                **report,
            }
            heapq.heappush(pending, (event["ts"], seq, event))
            seq += 1
            gap = rng.randint(5, 240)
            at += dt.timedelta(seconds=gap)
            report = _engagement(engage, path, gap * 1000)
        if rng.random() < 0.8:
            event = {
                "site": site,
                "type": "PAGE_EXIT",
                "url": f"https://{domain}{path}",
                **_engagement(engage, path, rng.randint(1000, 120_000)),
                "ts": at.isoformat(),
                "ip": ip,
                "user_agent": ua,
                "accept_language": language,
            }
            heapq.heappush(pending, (event["ts"], seq, event))
            seq += 1
    while pending:
        yield heapq.heappop(pending)[2]


def _engagement(rng: random.Random, path: str, visible_ms: int) -> dict[str, int]:
    """A page view's report: part of its visible time focused, more on pages that hold
    attention, and a scroll depth that is deeper on articles and docs."""
    interest = random.Random(path).uniform(0.2, 1.0)  # the same for every view of the page
    deep = path.startswith(("/blog", "/docs"))
    depth = rng.betavariate(3, 2) if deep else rng.betavariate(2, 3) * (0.5 + interest)
    return {
        "engaged_ms": int(visible_ms * interest * rng.uniform(0.6, 1.0)),
        "scroll_pct": min(100, int(depth * 100) + 10),
    }


# Goals and a funnel that fit the custom events below (goals.services.goal_create fields).
GOALS: list[dict[str, str]] = [
    {"kind": "event", "event_name": "Signup"},
    {"kind": "event", "event_name": "Signup", "prop_key": "plan", "prop_value": "pro"},
    {"kind": "page", "page_pattern": "/pricing"},
    {"kind": "page", "page_pattern": "/signup"},
]
FUNNEL = ("Pricing to signup", ["Visit /pricing", "Visit /signup", "Signup"])
PLANS = [(60, "free"), (30, "pro"), (10, "team")]
BILLING = [(70, "monthly"), (30, "yearly")]
FILES = [
    (5, "/files/price-list.pdf"),
    (3, "/files/whitepaper.pdf"),
    (2, "/files/sample-data.csv"),
    (1, "/downloads/demo-shop-1.4.dmg"),
]
OUTBOUND = [
    (5, "https://github.com/demo-shop/shop"),
    (3, "https://www.youtube.com/watch?v=demo"),
    (2, "https://twitter.com/demoshop"),
    (1, "https://docs.python.org/3/"),
]


def with_custom_events(
    events: Iterable[dict[str, Any]], *, domain: str, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """``events`` (in time order) with what their visitors did on the way, still in time
    order: some pricing visits go on to /signup, some sign-ups (``Signup`` with a plan),
    downloads from the docs, outbound clicks from the blog, newsletter sign-ups."""
    rng = random.Random(seed)
    pending: list[tuple[str, int, dict[str, Any]]] = []
    seq = 0

    def later(event: dict[str, Any], seconds: int, path: str, **body: Any) -> None:
        nonlocal seq
        at = dt.datetime.fromisoformat(event["ts"]) + dt.timedelta(seconds=seconds)
        extra = {
            "site": event["site"],
            "url": f"https://{domain}{path}",
            "ts": at.isoformat(),
            "ip": event["ip"],
            "user_agent": event["user_agent"],
            "accept_language": event.get("accept_language", ""),
            **body,
        }
        heapq.heappush(pending, (extra["ts"], seq, extra))
        seq += 1
        if extra["type"] == "PATH_CHANGE":
            follow(extra)

    def follow(event: dict[str, Any]) -> None:
        # Each follow-up comes 1-4 s after its page, before the generator's next one (5 s on).
        path = urlsplit(event["url"]).path
        if path == "/pricing" and rng.random() < 0.22:
            later(event, 3, "/signup", type="PATH_CHANGE", screen=event.get("screen"))
        elif path == "/signup" and rng.random() < 0.45:
            props = {"plan": _pick(rng, PLANS), "billing": _pick(rng, BILLING)}
            later(event, 1, path, type="EVENT", name="Signup", props=props)
        elif path.startswith("/docs") and rng.random() < 0.08:
            props = {"url": f"https://{domain}{_pick(rng, FILES)}"}
            later(event, 4, path, type="EVENT", name="File Download", props=props)
        elif path.startswith("/blog/") and rng.random() < 0.06:
            props = {"url": _pick(rng, OUTBOUND)}
            later(event, 4, path, type="EVENT", name="Outbound Link: Click", props=props)
        elif path == "/" and rng.random() < 0.03:
            later(event, 2, path, type="EVENT", name="Newsletter")

    for event in events:
        while pending and pending[0][0] <= event["ts"]:
            yield heapq.heappop(pending)[2]
        yield event
        if event["type"] in ("PAGE_VIEW", "PATH_CHANGE") and event["user_agent"] != BOT_UA:
            follow(event)
    while pending:
        yield heapq.heappop(pending)[2]
