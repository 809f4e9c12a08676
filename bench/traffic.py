"""The realistic event traffic of the benchmarks and the soak, generated ahead of time.

Visitors with real browser User-Agents (desktop, mobile, tablet), client IPs, ~200
Zipf-distributed paths, referrers and UTM tags, sessions of PAGE_VIEW / PATH_CHANGE /
PAGE_EXIT, thousands of visits in progress at once. Used by ``bench/ingest.py``,
``bench/query.py`` and ``systemtests/soak.py``; imports nothing but the standard library.
"""

from __future__ import annotations

import bisect
import json
import random
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

SITE_DOMAIN = "example.com"

# A 2024-like mix of desktop, mobile and tablet: weight, screen widths, user agent.
_AGENT_TABLE = """\
17 1920,1536,1366  Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
7  1440,1728,1512  Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
6  1440,1512       Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15
4  1920,1366       Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0
2  1920,2560       Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0
6  1920,1536,1280  Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0
2  1920            Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
18 390,393,430     Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1
3  390,375         Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1
16 412,360,384     Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36
5  384,412         Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36
1  412             Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0
5  820,1024        Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1
2  800,1280        Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
1  800             Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Safari/537.36
"""
AGENTS: list[tuple[int, str, tuple[int, ...]]] = [
    (int(weight), agent, tuple(int(w) for w in screens.split(",")))
    for weight, screens, agent in (line.split(maxsplit=2) for line in _AGENT_TABLE.splitlines())
]

# (weight, referrer of a landing page view); "" = direct.
REFERRERS: list[tuple[float, str]] = [
    (45, ""),
    (25, "https://www.google.com/"),
    (3, "https://www.bing.com/"),
    (2, "https://duckduckgo.com/"),
    (4, "https://t.co/"),
    (3, "https://www.facebook.com/"),
    (3, "https://news.ycombinator.com/"),
    (3, "https://www.reddit.com/r/webdev/comments/1abc/"),
    (2, "https://github.com/someone/awesome-list"),
    (2, "https://www.linkedin.com/"),
    (4, "https://blog.partner-site.io/2024/10/review/"),
    (4, f"https://{SITE_DOMAIN}/"),  # internal: ignored by the server
]
UTMS: list[tuple[float, dict[str, str]]] = [
    (88, {}),
    (5, {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring"}),
    (3, {"utm_source": "twitter", "utm_medium": "social", "utm_campaign": "launch"}),
    (2, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"}),
    (1, {"ref": "producthunt"}),
    (1, {"utm_source": "partner", "utm_campaign": "black-friday"}),
]


def make_paths(rng: random.Random, n: int = 200) -> list[str]:
    fixed = [
        "/",
        "/pricing",
        "/features",
        "/about",
        "/contact",
        "/login",
        "/signup",
        "/blog",
        "/docs",
        "/changelog",
        "/privacy",
        "/terms",
        "/careers",
        "/integrations",
    ]
    words = [
        "analytics",
        "privacy",
        "cookies",
        "gdpr",
        "dashboard",
        "events",
        "setup",
        "api",
        "tracking",
        "performance",
        "guide",
        "release",
        "migrate",
        "compare",
        "teams",
    ]
    paths = list(fixed)
    while len(paths) < n:
        kind = rng.random()
        slug = "-".join(rng.sample(words, rng.randint(2, 4)))
        if kind < 0.55:
            p = f"/blog/{slug}"
        elif kind < 0.85:
            p = f"/docs/{rng.choice(words)}/{slug}"
        else:
            p = f"/integrations/{rng.choice(words)}"
        if p not in paths:
            paths.append(p)
    return paths


def make_ips(rng: random.Random, n: int) -> list[str]:
    """Public-looking client IPs, about 10% IPv6."""
    ips: set[str] = set()
    while len(ips) < n:
        if rng.random() < 0.1:
            ips.add("2a02:" + ":".join(f"{rng.randrange(1, 0xFFFF):x}" for _ in range(3)) + "::1")
        else:
            first = rng.choice([5, 24, 31, 37, 46, 62, 77, 81, 84, 89, 93, 109, 151, 176, 185])
            ips.add(f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    return sorted(ips)


# Custom events of the traffic with ``custom``: (name, property keys and their values).
CUSTOM_EVENTS: list[tuple[str, dict[str, list[object]]]] = [
    ("Signup", {"plan": ["free", "pro", "team"], "seats": [1, 3, 10], "trial": [True, False]}),
    ("Download", {"file": ["guide.pdf", "app.zip"], "size_kb": [120, 2400], "os": ["mac", "win"]}),
    (
        "Outbound Link: Click",
        {"url": ["https://github.com/", "https://x.com/"], "n": [1, 2], "new": [True]},
    ),
]
# Page views and exits of a visit, over its views (``new_session``): an EVENT after a view
# with probability f/(1-f) times this makes them a share f of all events.
_EVENTS_PER_VIEW = 1.65


def generate_events(
    n: int,
    *,
    tracking_id: str,
    n_ips: int,
    seed: int,
    open_sessions: int = 5000,
    custom: float = 0.0,
) -> list[tuple[str, str, str]]:
    """``n`` events as (user agent, client ip, JSON body), interleaved visitor sessions.

    A session is a landing PAGE_VIEW (with its referrer and UTM tags), more views (an SPA
    sends PATH_CHANGE, with the engaged time and scroll depth of the route it leaves), and
    usually a PAGE_EXIT with the page's engaged time and scroll depth; with ``custom`` a
    share of about that fraction of the events are custom events with three properties
    each (``CUSTOM_EVENTS``), sent right after a view. ``open_sessions``
    visits are in progress at once, so one visitor's events are spread through the stream
    as on a real site, where a visitor sends an event every few tens of seconds: at ~1,000
    events/s that is thousands of visitors active at the same time.
    """
    rng = random.Random(seed)
    # Engagement from its own generator: the stream of visits is the one of older trees.
    feel = random.Random(seed + 1)
    paths = make_paths(rng)
    path_weights = [1 / (rank**1.1) for rank in range(1, len(paths) + 1)]  # Zipf
    path_cum = _cumulative(path_weights)
    ips = make_ips(rng, n_ips)
    agent_cum = _cumulative([w for w, _, _ in AGENTS])
    # A visitor is an IP with its device; some households have two devices.
    devices = {ip: [rng.choices(range(len(AGENTS)), cum_weights=agent_cum)[0]] for ip in ips}
    for ip in rng.sample(ips, len(ips) // 5):
        devices[ip].append(rng.choices(range(len(AGENTS)), cum_weights=agent_cum)[0])
    ref_cum = _cumulative([w for w, _ in REFERRERS])
    utm_cum = _cumulative([w for w, _ in UTMS])

    def pick_path() -> str:
        return paths[bisect.bisect_left(path_cum, rng.random() * path_cum[-1])]

    def new_session() -> list[dict[str, object]]:
        ip = rng.choice(ips)
        agent = rng.choice(devices[ip])
        screen = rng.choice(AGENTS[agent][2])
        spa = rng.random() < 0.4
        views = 1
        while views < 12 and rng.random() < 0.45:
            views += 1
        events: list[dict[str, object]] = []
        for v in range(views):
            url = f"https://{SITE_DOMAIN}{pick_path()}"
            body: dict[str, object] = {"site": tracking_id}
            if v == 0:
                utm = rng.choices(UTMS, cum_weights=utm_cum)[0][1]
                if utm:
                    url += "?" + urlencode(utm)
                body["type"] = "PAGE_VIEW"
                referrer = rng.choices(REFERRERS, cum_weights=ref_cum)[0][1]
            else:
                body["type"] = "PATH_CHANGE" if spa else "PAGE_VIEW"
                referrer = "" if spa else f"https://{SITE_DOMAIN}/"
                if spa:
                    body["engaged_ms"] = int(feel.lognormvariate(9.5, 1.2))
                    body["scroll_pct"] = feel.randint(0, 100)
            body["url"] = url
            if referrer:
                body["referrer"] = referrer
            body["screen"] = screen
            events.append(body)
            if custom and rng.random() < custom / (1 - custom) * _EVENTS_PER_VIEW:
                name, props = rng.choice(CUSTOM_EVENTS)
                events.append(
                    {
                        "site": tracking_id,
                        "type": "EVENT",
                        "name": name,
                        "url": url,
                        "props": {k: rng.choice(vs) for k, vs in props.items()},
                    }
                )
        if rng.random() < 0.7:
            events.append(
                {
                    "site": tracking_id,
                    "type": "PAGE_EXIT",
                    "url": events[-1]["url"],
                    "screen": screen,
                    "engaged_ms": int(rng.lognormvariate(9.5, 1.2)),
                    "scroll_pct": feel.randint(0, 100),
                }
            )
        return [{"_ua": AGENTS[agent][1], "_ip": ip, **e} for e in events]

    visits = [new_session() for _ in range(open_sessions)]
    out: list[tuple[str, str, str]] = []
    while len(out) < n:
        k = rng.randrange(len(visits))
        ev = visits[k].pop(0)
        if not visits[k]:
            visits[k] = new_session()
        ua, ip = str(ev.pop("_ua")), str(ev.pop("_ip"))
        out.append((ua, ip, json.dumps(ev, separators=(",", ":"))))
    return out


def with_unique_agents(
    events: list[tuple[str, str, str]], *, seed: int, length: int = 1024
) -> list[tuple[str, str, str]]:
    """The same events, each with a User-Agent of its own, ``length`` characters long: its
    browser's agent followed by one random hex word (new within the first characters the
    server classifies, so no parse is cached; one long word is the costliest input for
    crawlerdetect's catch-all pattern)."""
    rng = random.Random(seed)
    return [(f"{ua} {rng.randbytes(length).hex()}"[:length], ip, body) for ua, ip, body in events]


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def describe_traffic(events: list[tuple[str, str, str]]) -> str:
    types = Counter(json.loads(b)["type"] for _, _, b in events)
    utm = sum(1 for _, _, b in events if "utm_" in b or "?ref=" in b)
    ref = sum(1 for _, _, b in events if '"referrer"' in b)
    return (
        f"{len(events)} pre-generated events, {len({ip for _, ip, _ in events})} client IPs, "
        f"{len({ua for ua, _, _ in events})} user agents; "
        + ", ".join(f"{t} {100 * c / len(events):.0f}%" for t, c in types.most_common())
        + f"; {100 * utm / len(events):.0f}% with UTM tags, {100 * ref / len(events):.0f}% "
        "with a referrer"
    )


def write_events(path: Path, events: list[tuple[str, str, str]]) -> None:
    """One event a line, ``<user agent>\\t<client ip>\\t<json body>`` (also what
    ``bench/ingest.lua`` reads)."""
    path.write_text("".join(f"{ua}\t{ip}\t{body}\n" for ua, ip, body in events))


def read_events(path: Path) -> list[tuple[str, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        ua, ip, body = line.split("\t", 2)
        out.append((ua, ip, body))
    return out


def post_request(port: int, ua: str, ip: str, body: bytes, host: str = "127.0.0.1") -> bytes:
    """The raw HTTP/1.1 ``POST /api/event`` a browser sends, with the client IP in
    ``X-Forwarded-For`` (the server trusts the local proxy)."""
    return (
        f"POST /api/event HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: text/plain;charset=UTF-8\r\n"
        f"Origin: https://{SITE_DOMAIN}\r\nUser-Agent: {ua}\r\nX-Forwarded-For: {ip}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body
