"""Ingestion benchmark: the production server under realistic event traffic.

    .venv/bin/python bench/ingest.py                    # 3 runs x c=16,64 x 30 s, wrk client
    .venv/bin/python bench/ingest.py --quick            # 1 run x 5 s
    .venv/bin/python bench/ingest.py --client python    # the multi-process Python client
    .venv/bin/python bench/ingest.py --profile          # + py-spy on a worker at the top c

What it does, all on 127.0.0.1 and cleaned up when it ends:

1. drops and recreates the PostgreSQL database ``sa_bench`` (``--db-name``) on
   127.0.0.1:5432, flushes Redis db 14 (``--redis-db``), migrates with a temporary
   DATA_DIR, creates a user and a website with the ``simple-analytics`` CLI;
2. starts ``simple-analytics serve --no-jobs`` (``--with-jobs``: with its job consumer and
   scheduler, so refresh jobs and rollups run during the load) (granian WSGI, 2 workers:
   the throughput layout of a busy site, not `serve`'s one-worker default; set
   WEB_WORKERS / WEB_THREADS to change) with TRUSTED_PROXIES=127.0.0.1/32 so the client
   can give every event its own client IP through X-Forwarded-For;
3. drives POST /api/event from a separate process (wrk + ``bench/ingest.lua`` by default)
   with pre-generated traffic: 20,000 client IPs, 15 real browser User-Agents (desktop,
   mobile, tablet), ~200 Zipf-distributed paths, referrers, UTM tags, sessions of
   PAGE_VIEW / PATH_CHANGE / PAGE_EXIT events; no bots;
4. per run reports accepted events/s (2xx), p50/p99 latency, non-2xx and socket errors,
   CPU used by the server, PostgreSQL and the client, and checks that the Event rows
   stored plus the events counted in ``tracking_dropcount`` equal the accepted events;
5. measures the same server's ceiling on GET /healthz at the same concurrency and prints
   the ingest / no-op ratio, with medians over the runs.

The client stops sending at the end of the duration and lets the requests in flight
finish, so no request is abandoned half-way and the count check is exact.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import bisect
import contextlib
import json
import multiprocessing as mp
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The process-tree walk `serve`'s supervisor uses (no Django imported).
from simple_analytics.supervisor import descendants as _descendants  # noqa: E402
from simple_analytics.supervisor import ppid_map as _ppid_map  # noqa: E402

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "simple-analytics")
LUA = Path(__file__).resolve().parent / "ingest.lua"
HOST = "127.0.0.1"  # the only address this benchmark ever talks to
SITE_DOMAIN = "example.com"

# --- Traffic ---------------------------------------------------------------------------
# (weight, user agent, screen widths): a 2024-like mix of desktop, mobile and tablet.
AGENTS: list[tuple[float, str, tuple[int, ...]]] = [
    (17, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", (1920, 1536, 1366)),  # noqa: E501
    (7, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", (1440, 1728, 1512)),  # noqa: E501
    (6, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", (1440, 1512)),  # noqa: E501
    (4, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", (1920, 1366)),  # noqa: E501
    (2, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", (1920, 2560)),
    (6, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", (1920, 1536, 1280)),  # noqa: E501
    (2, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", (1920,)),  # noqa: E501
    (18, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", (390, 393, 430)),  # noqa: E501
    (3, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", (390, 375)),  # noqa: E501
    (16, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", (412, 360, 384)),  # noqa: E501
    (5, "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", (384, 412)),  # noqa: E501
    (1, "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", (412,)),
    (5, "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", (820, 1024)),  # noqa: E501
    (2, "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", (800, 1280)),  # noqa: E501
    (1, "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Safari/537.36", (800,)),  # noqa: E501
]  # fmt: skip

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
    fixed = ["/", "/pricing", "/features", "/about", "/contact", "/login", "/signup", "/blog",
             "/docs", "/changelog", "/privacy", "/terms", "/careers", "/integrations"]  # fmt: skip
    words = ["analytics", "privacy", "cookies", "gdpr", "dashboard", "events", "setup", "api",
             "tracking", "performance", "guide", "release", "migrate", "compare", "teams"]  # fmt: skip
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


def generate_events(
    n: int, *, tracking_id: str, n_ips: int, seed: int, open_sessions: int = 5000
) -> list[tuple[str, str, str]]:
    """``n`` events as (user agent, client ip, JSON body), interleaved visitor sessions.

    A session is a landing PAGE_VIEW (with its referrer and UTM tags), more views (an SPA
    sends PATH_CHANGE), and usually a PAGE_EXIT with the engaged time. ``open_sessions``
    visits are in progress at once, so one visitor's events are spread through the stream
    as on a real site, where a visitor sends an event every few tens of seconds: at ~1,000
    events/s that is thousands of visitors active at the same time.
    """
    rng = random.Random(seed)
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
            body["url"] = url
            if referrer:
                body["referrer"] = referrer
            body["screen"] = screen
            events.append(body)
        if rng.random() < 0.7:
            events.append(
                {
                    "site": tracking_id,
                    "type": "PAGE_EXIT",
                    "url": events[-1]["url"],
                    "screen": screen,
                    "engaged_ms": int(rng.lognormvariate(9.5, 1.2)),
                }  # fmt: skip
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


# --- Environment: database, redis, app setup ------------------------------------------
@dataclass
class Env:
    pg_dsn: str  # the maintenance database, to create/drop the bench database
    db_name: str
    redis_url: str
    data_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    tracking_id: str = ""
    cursor: int = 0  # where the next ingest run starts in the pre-generated stream

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@{HOST}:5432/{self.db_name}"


def pg_admin(env: Env, sql: str) -> None:
    import psycopg

    with psycopg.connect(env.pg_dsn, autocommit=True) as conn:
        conn.execute(sql)


def pg_query(env: Env, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(env.database_url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def run_cli(env: Env, *args: str) -> str:
    proc = subprocess.run(
        [CLI, *args], env=env.env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise SystemExit(f"`simple-analytics {' '.join(args)}` failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def setup_app(env: Env) -> None:
    pg_admin(env, f'DROP DATABASE IF EXISTS "{env.db_name}" WITH (FORCE)')
    pg_admin(env, f'CREATE DATABASE "{env.db_name}"')
    redis_flush(env.redis_url)
    env.env = {
        # The layout measured since the first run: two web workers (serve's default is one).
        "WEB_WORKERS": "2",
        **os.environ,
        "DATABASE_URL": env.database_url,
        "REDIS_URL": env.redis_url,
        "DATA_DIR": str(env.data_dir),
        "TRUSTED_PROXIES": f"{HOST}/32",
        "DEBUG": "False",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Measure the code this file sits next to (a checkout or an exported snapshot),
        # whatever the editable install in the venv points to.
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    env.env.pop("TESTING", None)
    run_cli(env, "migrate", "--verbosity", "0")
    run_cli(env, "createuser", "bench@example.com", f"--password={secrets.token_urlsafe(16)}")
    out = run_cli(env, "site", "add", SITE_DOMAIN, "--owner", "bench@example.com")
    m = re.search(r"tracking id:\s*(\S+)", out)
    if not m:
        raise SystemExit(f"no tracking id in the output of `site add`:\n{out}")
    env.tracking_id = m.group(1)


def check_agents(env: Env) -> list[dict[str, object]]:
    """How the app classifies the bench's user agents; none may be a bot."""
    code = (
        "import json,sys; from core.ua import parse_agent; "
        "print(json.dumps([parse_agent(u)._asdict() for u in json.load(sys.stdin)]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps([a for _, a, _ in AGENTS]),
        env=env.env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    parsed = json.loads(proc.stdout)
    bots = [a for (_, a, _), p in zip(AGENTS, parsed, strict=True) if p["is_bot"]]
    if bots:
        raise SystemExit(f"the app classifies bench user agents as bots: {bots}")
    return parsed


def db_counts(env: Env) -> tuple[int, int, int]:
    """(events stored, events counted as dropped, sessions)."""
    (events,), = pg_query(env, "SELECT count(*) FROM tracking_event")  # fmt: skip
    (dropped,), = pg_query(env, "SELECT coalesce(sum(count), 0) FROM tracking_dropcount")  # fmt: skip
    (sessions,), = pg_query(env, "SELECT count(*) FROM tracking_session")  # fmt: skip
    return int(events), int(dropped), int(sessions)


def settled_counts(
    env: Env, *, quiet_s: float = 2.0, limit_s: float = 30.0
) -> tuple[int, int, int]:
    """Counts once they stop changing: drops are flushed by the writer within ~1 s."""
    last = db_counts(env)
    stable_since = time.monotonic()
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = db_counts(env)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= quiet_s:
            break
    return last


def drop_reasons(env: Env) -> dict[str, int]:
    return {
        r: int(c)
        for r, c in pg_query(env, "SELECT reason, sum(count) FROM tracking_dropcount GROUP BY 1")
    }


# --- The server ------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, env: Env, log_path: Path, *, jobs: bool = False) -> None:
        self.env = env
        self.log_path = log_path
        self.jobs = jobs  # also run the job consumer with the scheduler (refresh, rollups)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [CLI, "serve", *([] if self.jobs else ["--no-jobs"]), "--host", HOST,
             "--port", str(self.env.port)],
            env=self.env.env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches every child
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.env.port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"the server did not answer /healthz in 60 s:\n{self.log_tail()}")
        # Both workers up: wait until the expected number of worker processes exist.
        want = int(self.env.env.get("WEB_WORKERS", "2"))
        deadline = time.monotonic() + 30
        while len(self.workers()) < want and time.monotonic() < deadline:
            time.sleep(0.2)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def pids(self) -> list[int]:
        return descendants(self.proc.pid, include_self=True) if self.proc else []

    def workers(self) -> list[int]:
        """The granian worker processes (children of the granian main process)."""
        if not self.proc:
            return []
        parents = _ppid_map()
        granian_main = [p for p, pp in parents.items() if pp == self.proc.pid]
        return sorted(p for p, pp in parents.items() if pp in granian_main)

    def stop(self) -> None:
        try:
            self._stop()
        finally:
            if self._log is not None:
                self._log.close()

    def _stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def descendants(pid: int, *, include_self: bool = False) -> list[int]:
    return ([pid] if include_self else []) + _descendants(pid)


# --- CPU accounting --------------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids`` that still exists."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two ``proc_cpu`` readings: all of it for processes started in
    between (pooled database connections come and go); exited ones are not counted."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def postgres_pids(db_name: str) -> list[int]:
    """The backends serving the bench database, and the WAL writer and background writer."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if cmd.startswith("postgres: ") and (
                f" {db_name} " in cmd or "walwriter" in cmd or "background writer" in cmd
            ):
                out.append(int(entry))
    return out


def machine_cpu() -> float:
    """Busy seconds of all cores since boot (every process, ours and others')."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    return (sum(vals[:8]) - vals[3] - vals[4]) / TICK  # minus idle and iowait; no guest


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --- Clients ---------------------------------------------------------------------------
@dataclass
class ClientResult:
    requests: int = 0  # answered
    ok: int = 0  # 2xx
    non2xx: int = 0
    socket_errors: int = 0
    socket_detail: str = ""  # e.g. "read 3, timeout 1"
    sent: int = 0
    active_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing the Debian package `wrk` (apt-get install -y wrk)")
        proc = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True)
        path = shutil.which("wrk")
    if not path:
        raise SystemExit(
            "wrk is required for --client wrk: install the Debian package `wrk` "
            "(apt-get install -y wrk), or use --client python"
        )
    return path


def run_wrk(
    port: int, mode: str, data: Path, *, conns: int, duration: float, threads: int, start: int = 0
) -> ClientResult:
    threads = max(1, min(threads, conns))
    # Answers still in flight at the end of the duration get this long; a request still
    # unanswered when wrk stops counts as "never answered". wrk's --timeout is set beyond
    # the whole run: it would also count a connection parked after the deadline whose last
    # request started more than --timeout ago, and slow answers show in the latencies.
    grace = 10
    timeout = int(duration + grace + 5)
    cmd = [
        wrk_path(), "-t", str(threads), "-c", str(conns), "-d", f"{int(duration + grace)}s",
        "--timeout", f"{timeout}s", "-s", str(LUA), f"http://{HOST}:{port}",
        "--", mode, str(data), str(duration), str(threads), str(start),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + grace + 60)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(lines[-1])
    e = r["errors"]
    lat = r["latency_us"]
    return ClientResult(
        requests=r["requests"],
        ok=r["requests"] - e["status"],  # wrk counts status >= 400; there are no 3xx here
        non2xx=e["status"],
        socket_errors=e["connect"] + e["read"] + e["write"] + e["timeout"],
        socket_detail=", ".join(
            f"{k} {e[k]}" for k in ("connect", "read", "write", "timeout") if e[k]
        ),  # fmt: skip
        sent=r["sent"],
        active_s=r["active_s"] or duration,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
    )


def _raw_requests(port: int, mode: str, data: Path) -> list[bytes]:
    host = f"Host: {HOST}:{port}\r\n"
    if mode == "noop":
        return [
            f"GET /healthz HTTP/1.1\r\n{host}User-Agent: {AGENTS[4][1]}\r\n\r\n".encode("latin-1")
        ]
    out = []
    for line in data.read_text().splitlines():
        ua, ip, body = line.split("\t", 2)
        b = body.encode()
        out.append(
            (
                f"POST /api/event HTTP/1.1\r\n{host}Content-Type: text/plain;charset=UTF-8\r\n"
                f"Origin: https://{SITE_DOMAIN}\r\nUser-Agent: {ua}\r\nX-Forwarded-For: {ip}\r\n"
                f"Content-Length: {len(b)}\r\n\r\n"
            ).encode("latin-1")
            + b
        )
    return out


async def _py_connection(
    reqs: list[bytes], pos: list[int], stride: int, port: int, start: float, deadline: float,
    stats: dict,
) -> None:  # fmt: skip
    lat: array.array = stats["lat"]
    loop = asyncio.get_running_loop()
    reader = writer = None
    while loop.time() < deadline:
        if reader is None:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                stats["socket_errors"] += 1
                await asyncio.sleep(0.05)
                continue
            if loop.time() < start:
                await asyncio.sleep(start - loop.time())
            if loop.time() >= deadline:
                break
        req = reqs[pos[0]]
        pos[0] = (pos[0] + stride) % len(reqs)
        t0 = time.perf_counter()
        if not stats["first"]:
            stats["first"] = time.monotonic()
        stats["sent"] += 1
        try:
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            low = head.lower()
            i = low.find(b"\r\ncontent-length:")
            if i >= 0:
                n = int(low[i + 17 : low.index(b"\r\n", i + 2)])
                if n:
                    await reader.readexactly(n)
            elif b"transfer-encoding: chunked" in low:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            stats["socket_errors"] += 1
            writer.close()
            reader = writer = None
            continue
        lat.append(time.perf_counter() - t0)
        stats["requests"] += 1
        if 200 <= status < 300:
            stats["ok"] += 1
        else:
            stats["non2xx"] += 1
    if writer is not None:
        writer.close()


def _py_client_process(
    port: int, mode: str, data: str, conns: int, first: int, stride: int, start: float,
    duration: float, out: mp.Queue,
) -> None:  # fmt: skip
    reqs = _raw_requests(port, mode, Path(data))
    pos = [first % len(reqs)]
    stats: dict = {"lat": array.array("d"), "requests": 0, "ok": 0, "non2xx": 0,
                   "socket_errors": 0, "sent": 0, "first": 0.0}  # fmt: skip

    async def main() -> None:
        # time.monotonic() and the loop clock are both CLOCK_MONOTONIC on Linux.
        tasks = [
            asyncio.create_task(
                _py_connection(reqs, pos, stride, port, start, start + duration, stats)
            )
            for _ in range(conns)
        ]
        done, pending = await asyncio.wait(tasks, timeout=start + duration + 10 - time.monotonic())
        for t in pending:  # still waiting for an answer 10 s after the end: never answered
            t.cancel()

    asyncio.run(main())
    lat = stats.pop("lat")
    out.put({**stats, "lat": lat.tobytes()})


def run_python(
    port: int, mode: str, data: Path, *, conns: int, duration: float, procs: int, start: int = 0
) -> ClientResult:
    """Like run_wrk: process k of P sends events start+k, start+k+P, ... over its share of
    the connections (asyncio, keep-alive, raw HTTP/1.1), stops sending at the end of the
    duration and waits up to 10 s for the answers still in flight."""
    procs = max(1, min(procs, conns))
    ctx = mp.get_context("fork")
    out: mp.Queue = ctx.Queue()
    t_start = time.monotonic() + 1.5  # time to load requests and connect
    workers = []
    for k in range(procs):
        share = conns // procs + (1 if k < conns % procs else 0)
        p = ctx.Process(
            target=_py_client_process,
            args=(port, mode, str(data), share, start + k, procs, t_start, duration, out),
            daemon=True,  # never outlives the bench
        )
        p.start()
        workers.append(p)
    parts = [out.get(timeout=duration + 60) for _ in workers]
    for p in workers:
        p.join()
    lat = array.array("d")
    for part in parts:
        lat.frombytes(part["lat"])
    lat_sorted = sorted(lat)

    def pct(q: float) -> float:
        if not lat_sorted:
            return 0.0
        return lat_sorted[min(len(lat_sorted) - 1, int(q / 100 * len(lat_sorted)))] * 1000

    firsts = [p["first"] for p in parts if p["first"]]
    # The offered-load window runs from the first request to the deadline, even if the
    # server stalled in between.
    return ClientResult(
        requests=sum(p["requests"] for p in parts),
        ok=sum(p["ok"] for p in parts),
        non2xx=sum(p["non2xx"] for p in parts),
        socket_errors=sum(p["socket_errors"] for p in parts),
        sent=sum(p["sent"] for p in parts),
        active_s=(t_start + duration - min(firsts)) if firsts else duration,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        max_ms=lat_sorted[-1] * 1000 if lat_sorted else 0.0,
    )


# --- Runs ------------------------------------------------------------------------------
@dataclass
class Run:
    endpoint: str  # "ingest" | "noop"
    concurrency: int
    rep: int
    client: str
    rate: float  # 2xx per second
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    ok: int
    non2xx: int
    socket_errors: int
    in_flight_lost: int  # sent but never answered
    socket_detail: str = ""
    stored: int | None = None
    dropped: int | None = None
    server_cores: float = 0.0
    postgres_cores: float = 0.0
    client_cores: float = 0.0
    other_cores: float = 0.0  # processes that are not part of the benchmark (noise)

    @property
    def balanced(self) -> bool | None:
        if self.stored is None:
            return None
        return self.stored + self.dropped == self.ok


def one_run(
    env: Env, server: Server, args: argparse.Namespace, data: Path, endpoint: str, conns: int,
    rep: int, duration: float, quiet_s: float = 1.5,
) -> Run:  # fmt: skip
    if endpoint == "ingest":
        before = settled_counts(env, quiet_s=quiet_s, limit_s=quiet_s + 30)
    else:
        before = None
        if quiet_s > 2:  # requests of the previous run may still hold the server's threads
            time.sleep(quiet_s)
    server_pids, pg_pids = server.pids(), postgres_pids(env.db_name)
    s0, g0, c0, b0 = proc_cpu(server_pids), proc_cpu(pg_pids), children_cpu(), machine_cpu()
    wall0 = time.monotonic()
    if args.client == "wrk":
        r = run_wrk(env.port, endpoint, data, conns=conns, duration=duration,
                    threads=args.threads, start=env.cursor)  # fmt: skip
    else:
        r = run_python(env.port, endpoint, data, conns=conns, duration=duration,
                       procs=args.procs, start=env.cursor)  # fmt: skip
    if endpoint == "ingest":
        env.cursor += r.sent
    wall = time.monotonic() - wall0
    server_pids, pg_pids = server.pids(), postgres_pids(env.db_name)  # connections come and go
    s1, g1, c1, b1 = proc_cpu(server_pids), proc_cpu(pg_pids), children_cpu(), machine_cpu()
    server_s, pg_s, client_s = cpu_delta(s0, s1), cpu_delta(g0, g1), c1 - c0
    # CPU is averaged over the whole client run (active part plus the idle grace time), so
    # scale it to the active part, when everything was busy.
    scale = wall / max(r.active_s, 1e-9)
    run = Run(
        endpoint=endpoint, concurrency=conns, rep=rep, client=args.client,
        rate=r.ok / max(r.active_s, 1e-9), p50_ms=r.p50_ms, p99_ms=r.p99_ms, max_ms=r.max_ms,
        requests=r.requests, ok=r.ok, non2xx=r.non2xx, socket_errors=r.socket_errors,
        in_flight_lost=max(0, r.sent - r.requests - r.socket_errors),
        socket_detail=r.socket_detail,
        server_cores=server_s / wall * scale, postgres_cores=pg_s / wall * scale,
        client_cores=client_s / wall * scale,
        # Other people's processes, averaged over the whole client run (not scaled).
        other_cores=max(0.0, (b1 - b0 - server_s - pg_s - client_s) / wall),
    )  # fmt: skip
    if before is not None:
        after = settled_counts(env)
        run.stored, run.dropped = after[0] - before[0], after[1] - before[1]
    return run


def fmt_run(r: Run) -> str:
    check = {None: "-", True: "ok", False: "MISMATCH"}[r.balanced]
    stored = f"{r.stored}+{r.dropped}={r.stored + r.dropped}" if r.stored is not None else "-"
    return (
        f"{r.endpoint:<6} c={r.concurrency:<3} #{r.rep}  {r.rate:8.0f}/s  p50 {r.p50_ms:6.1f} ms"
        f"  p99 {r.p99_ms:6.1f} ms  max {r.max_ms:6.0f} ms  2xx {r.ok:>7}"
        f"  err {r.non2xx}+{r.socket_errors}+{r.in_flight_lost}"
        + (f" ({r.socket_detail})" if r.socket_detail else "")
        + f"  stored+dropped {stored:<22} {check:<8} cpu: server {r.server_cores:.2f}"
        f" pg {r.postgres_cores:.2f} client {r.client_cores:.2f} others {r.other_cores:.2f}"
    )


def summarize(runs: list[Run], concurrencies: list[int]) -> str:
    med = statistics.median
    lines = [
        "| c | endpoint | runs | accepted/s (median) | p50 ms | p99 ms | errors "
        "| stored+dropped = accepted | server cores | postgres cores | client cores "
        "| others' cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for c in concurrencies:
        by = {}
        for ep in ("noop", "ingest"):
            rs = [r for r in runs if r.endpoint == ep and r.concurrency == c]
            if not rs:
                continue
            by[ep] = med(r.rate for r in rs)
            errors = sum(r.non2xx + r.socket_errors + r.in_flight_lost for r in rs)
            if ep == "ingest":
                ok = all(r.balanced for r in rs)
                acc = sum(r.ok for r in rs)
                check = f"{'yes' if ok else 'NO'} ({acc} accepted, {sum(r.dropped for r in rs)} dropped)"
            else:
                check = "n/a"
            lines.append(
                f"| {c} | {ep if ep == 'ingest' else 'no-op /healthz'} | {len(rs)} "
                f"| {by[ep]:,.0f} ({min(r.rate for r in rs):,.0f}–{max(r.rate for r in rs):,.0f}) "
                f"| {med(r.p50_ms for r in rs):.1f} | {med(r.p99_ms for r in rs):.1f} | {errors} "
                f"| {check} | {med(r.server_cores for r in rs):.2f} "
                f"| {med(r.postgres_cores for r in rs):.2f} | {med(r.client_cores for r in rs):.2f} "
                f"| {med(r.other_cores for r in rs):.2f} |"
            )
        if "noop" in by and "ingest" in by:
            # Also per repetition: the no-op and ingest runs of one repetition follow each
            # other, so they share the machine's load of that moment.
            pairs = [
                f"{i.rate / n.rate:.0%}"
                for n in runs
                for i in runs
                if n.endpoint == "noop" and i.endpoint == "ingest"
                and n.concurrency == i.concurrency == c and n.rep == i.rep
            ]  # fmt: skip
            ratios.append(
                f"c={c}: ingest / no-op = {by['ingest'] / by['noop']:.0%} (medians; "
                f"per repetition: {', '.join(pairs)})"
            )
    return "\n".join(lines + [""] + ratios)


def verdict(runs: list[Run], top_c: int) -> list[str]:
    med = statistics.median
    out = []
    ing = [r for r in runs if r.endpoint == "ingest" and r.concurrency == top_c]
    noop = [r for r in runs if r.endpoint == "noop" and r.concurrency == top_c]
    if ing and noop:
        ratio = med(r.rate for r in ing) / med(r.rate for r in noop)
        out.append(
            f"ingest >= 50% of no-op at c={top_c}: {'PASS' if ratio >= 0.5 else 'FAIL'} ({ratio:.0%})"
        )
    if ing:
        p99 = med(r.p99_ms for r in ing)
        out.append(
            f"ingest p99 < 50 ms at c={top_c}: {'PASS' if p99 < 50 else 'FAIL'} ({p99:.1f} ms)"
        )
    all_ing = [r for r in runs if r.endpoint == "ingest"]
    if all_ing:
        lost = [
            r for r in all_ing if not r.balanced or r.in_flight_lost or r.non2xx or r.socket_errors
        ]
        out.append(
            "nothing lost (stored + dropped == accepted, no errors): "
            + ("PASS" if not lost else f"FAIL in {len(lost)} run(s)")
        )
    return out


# --- Profiling -------------------------------------------------------------------------
# Where the time of a request goes, by landmark function (inclusive of what it calls).
LANDMARKS: list[tuple[str, tuple[str, ...]]] = [
    (
        "request threads (granian's WSGI callback)",
        ("_callback_wrapper.<locals>._runner (granian/wsgi.py)",),
    ),
    ("  Django handler + middleware", ("WSGIHandler.__call__ (django/core/handlers/wsgi.py)",)),
    ("  collect()", ("collect (tracking/views.py)", "collect (tracking/collect.py)")),
    (
        "    payload read + parse",
        ("read_body (tracking/payload.py)", "parse (tracking/payload.py)"),
    ),
    ("    tracked_site_get", ("tracked_site_get (websites/selectors.py)",)),
    ("    client_ip (X-Forwarded-For)", ("client_ip (core/net.py)",)),
    ("    pipeline.run (UA, referrer, UTM, visitor id)", ("run (tracking/pipeline.py)",)),
    (
        "    GroupCommitter.submit (hand-off + wait)",
        ("GroupCommitter.submit (tracking/writer.py)",),
    ),
    ("writer thread(s): GroupCommitter._run", ("GroupCommitter._run (tracking/writer.py)",)),
    ("  write_events", ("write_events (tracking/writer.py)",)),
    ("    lock_visitors (advisory locks)", ("lock_visitors (tracking/identity.py)",)),
    ("    _latest_sessions (ORM SELECT)", ("_latest_sessions (tracking/writer.py)",)),
    ("    Session bulk_update (ORM)", ("QuerySet.bulk_update (django/db/models/query.py)",)),
    ("    _update_sessions (executemany)", ("_update_sessions (tracking/writer.py)",)),
    ("    _insert_events (executemany)", ("_insert_events (tracking/writer.py)",)),
    ("    bulk_create (ORM)", ("QuerySet.bulk_create (django/db/models/query.py)",)),
    ("    _count_drops", ("_count_drops (tracking/writer.py)",)),
    ("    transaction commit", ("Atomic.__exit__ (django/db/transaction.py)",)),
    ("  on_commit: request_refresh", ("request_refresh (jobs/tasks.py)",)),
    (
        "psycopg pipeline protocol (executemany)",
        ("BasePipeline._communicate_gen (psycopg/_pipeline_base.py)",),
    ),
    ("psycopg waiting for PostgreSQL", ("Connection.wait (psycopg/connection.py)",)),
]


def profile(env: Env, server: Server, args: argparse.Namespace, data: Path, out_dir: Path) -> str:
    """py-spy on one granian worker during ingest load at the top concurrency.

    Two recordings of the same 10 s: ``--gil`` samples only the thread holding the GIL,
    i.e. where the worker's Python CPU time goes; the other samples every thread that is
    not idle, which also shows where requests wait.
    """
    spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if not spy:
        return "py-spy not installed (.venv/bin/pip install py-spy): no profile"
    workers = server.workers()
    if not workers:
        return "no granian worker found: no profile"
    conns = max(args.concurrency)
    secs = 10
    client = mp.get_context("fork").Process(
        target=_profile_client, args=(env.port, data, conns, secs + 5, args, env.cursor)
    )
    client.start()
    time.sleep(2.5)
    base = [spy, "record", "--pid", str(workers[0]), "--duration", str(secs), "--nonblocking"]
    outputs = {"gil": out_dir / "profile-gil.txt", "all": out_dir / "profile-all.txt"}
    cmds = [
        base + ["--gil", "--rate", "100", "--format", "raw", "-o", str(outputs["gil"])],
        base + ["--rate", "50", "--format", "raw", "-o", str(outputs["all"])],
    ]
    if args.profile_svg:
        cmds.append(base + ["--gil", "--rate", "100", "-o", str(args.profile_svg)])
    spies = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in cmds]
    logs = [p.communicate(timeout=secs + 60)[0].decode(errors="replace") for p in spies]
    client.join()
    for p, log, path in zip(spies, logs, outputs.values(), strict=False):
        if p.returncode != 0 or not path.exists():
            return f"py-spy failed: {log[-2000:]}"
    if args.profile_raw:
        args.profile_raw.mkdir(parents=True, exist_ok=True)
        for path in outputs.values():
            shutil.copy(path, args.profile_raw / path.name)
    gil = outputs["gil"].read_text()
    every = outputs["all"].read_text()
    return "\n".join(
        [
            f"py-spy {secs} s on granian worker pid {workers[0]}, ingest at c={conns}",
            "",
            "== with the GIL (where the worker's Python CPU time goes) ==",
            collapsed_report(gil, top=args.profile_top),
            "",
            "== every non-idle thread (includes threads blocked in waits) ==",
            landmark_report(every),
        ]
    )


def _profile_client(
    port: int, data: Path, conns: int, secs: float, args: argparse.Namespace, start: int
) -> None:
    if args.client == "wrk":
        run_wrk(port, "ingest", data, conns=conns, duration=secs, threads=args.threads,
                start=start)  # fmt: skip
    else:
        run_python(port, "ingest", data, conns=conns, duration=secs, procs=args.procs,
                   start=start)  # fmt: skip


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "collect (tracking/views.py:61)"; drop the line number.
    return re.sub(r":\d+\)$", ")", frame.strip())


def _stacks(text: str) -> list[tuple[list[str], int]]:
    out = []
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            out.append(([_frame_name(f) for f in stack.split(";")], int(n)))
    return out


def collapsed_report(text: str, *, top: int = 25) -> str:
    stacks = _stacks(text)
    total = sum(n for _, n in stacks)
    if not total:
        return "py-spy recorded no samples"
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, n in stacks:
        self_t[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    lines = [f"{total} samples", "", "by landmark (inclusive):", landmark_report(text), ""]
    lines.append("top functions by self time:")
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in self_t.most_common(top)]
    lines.append("")
    lines.append("top functions by inclusive time:")
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    return "\n".join(lines)


def landmark_report(text: str) -> str:
    stacks = _stacks(text)
    total = sum(n for _, n in stacks) or 1
    lines = []
    for label, names in LANDMARKS:
        n = sum(c for frames, c in stacks if any(name in frames for name in names))
        if n:
            lines.append(f"  {100 * n / total:5.1f}%  {label}")
    return "\n".join(lines)


def git_revision() -> str:
    stamp = ROOT / "REVISION"  # written next to an exported snapshot (git archive)
    if stamp.exists():
        return stamp.read_text().strip() + " (exported snapshot)"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def report_server_errors(server: Server, *, keep: bool) -> None:
    log = server.log_tail(50_000_000)
    errors = Counter(
        m.group(0) for m in re.finditer(r"^[\w.]+(?:Error|Exception)\b.*$", log, flags=re.MULTILINE)
    )
    if errors or " ERROR " in log:
        where = server.log_path if keep else "run with --keep to keep it"
        print(f"\nthe server logged errors (log: {where}):")
        for line, n in errors.most_common(10):
            print(f"  {n:6d} x {line[:200]}")


# --- Main ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--duration", type=float, default=30.0, help="seconds per run (default 30)")
    ap.add_argument("--concurrency", default="16,64", help="comma-separated (default 16,64)")
    ap.add_argument("--runs", type=int, default=3, help="repetitions; medians are reported")
    ap.add_argument("--quick", action="store_true", help="5 s runs, 1 repetition")
    ap.add_argument("--client", choices=["wrk", "python"], default="wrk")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--procs", type=int, default=2, help="Python client processes (default 2)")
    ap.add_argument("--endpoints", default="noop,ingest", help="which to run (default both)")
    ap.add_argument("--events", type=int, default=60_000, help="pre-generated events to cycle")
    ap.add_argument("--ips", type=int, default=20_000, help="client IP pool size")
    ap.add_argument("--open-sessions", type=int, default=5000, help="visits in progress at once")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up traffic")
    ap.add_argument("--profile", action="store_true", help="py-spy a worker after the runs")
    ap.add_argument("--profile-svg", type=Path, default=None, help="also write a flame graph")
    ap.add_argument("--profile-top", type=int, default=25)
    ap.add_argument("--profile-raw", type=Path, default=None, help="keep py-spy's raw stacks here")
    ap.add_argument("--pg", default=f"postgres://postgres@{HOST}:5432/postgres",
                    help="maintenance database used to create/drop the bench database")  # fmt: skip
    ap.add_argument("--db-name", default="sa_bench")
    ap.add_argument("--redis-db", type=int, default=14)
    ap.add_argument(
        "--with-jobs",
        action="store_true",
        help="serve with its job consumer and scheduler (refresh jobs, rollups)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the database and DATA_DIR")
    ap.add_argument("--json", type=Path, default=None, help="write every run's figures here")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.runs = 5.0, 1
    args.concurrency = [int(c) for c in str(args.concurrency).split(",")]
    endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    if not re.fullmatch(r"\w+", args.db_name):
        ap.error("--db-name: letters, digits and _ only")
    if args.client == "wrk":
        wrk_path()

    data_dir = Path(tempfile.mkdtemp(prefix="sa-bench-"))
    env = Env(
        pg_dsn=args.pg, db_name=args.db_name, redis_url=f"redis://{HOST}:6379/{args.redis_db}",
        data_dir=data_dir, port=free_port(),
    )  # fmt: skip
    server = Server(env, data_dir / "server.log", jobs=args.with_jobs)

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    runs: list[Run] = []
    try:
        t = time.monotonic()
        setup_app(env)
        agents = check_agents(env)
        devices = Counter(a["device"] for a in agents)
        print(f"setup: database {env.db_name}, redis db {args.redis_db}, DATA_DIR {data_dir}, "
              f"site {env.tracking_id} ({time.monotonic() - t:.1f} s)")  # fmt: skip
        print(f"user agents: {len(agents)} ({dict(devices)}), none classified as a bot")
        print(f"app revision: {git_revision()}")
        events = generate_events(args.events, tracking_id=env.tracking_id, n_ips=args.ips,
                                 seed=args.seed, open_sessions=args.open_sessions)  # fmt: skip
        data = data_dir / "events.tsv"
        data.write_text("".join(f"{ua}\t{ip}\t{body}\n" for ua, ip, body in events))
        print("traffic:", describe_traffic(events))
        server.start()
        print(f"server: simple-analytics serve {'' if args.with_jobs else '--no-jobs '}on {HOST}:{env.port}, "
              f"granian workers {server.workers()}")  # fmt: skip
        print(f"client: {args.client}" + (f" ({args.threads} thread(s))" if args.client == "wrk"
              else f" ({args.procs} processes)"))  # fmt: skip
        quiet = 1.5
        if args.warmup > 0:
            print(f"\nwarm-up ({args.warmup:g} s, not in the figures):")
            for ep in endpoints:
                run = one_run(env, server, args, data, ep, max(args.concurrency), 0,
                              args.warmup, quiet)  # fmt: skip
                print(fmt_run(run), flush=True)
                quiet = 35.0 if run.in_flight_lost else 1.5
        print(f"\n{args.runs} run(s) x {args.duration:g} s at c={args.concurrency} "
              "(err = non-2xx + socket errors + never answered):")  # fmt: skip
        for rep in range(1, args.runs + 1):
            for c in args.concurrency:
                for ep in endpoints:
                    run = one_run(env, server, args, data, ep, c, rep, args.duration, quiet)
                    runs.append(run)
                    # Requests the client gave up on may still be stored later: let the
                    # server finish them (the app gives up after 30 s) before counting again.
                    quiet = 35.0 if run.in_flight_lost else 1.5
                    print(fmt_run(run), flush=True)
                    if server.proc and server.proc.poll() is not None:
                        raise SystemExit(f"the server died:\n{server.log_tail()}")
        reasons = drop_reasons(env)
        print(f"\ndrop reasons over the whole bench (incl. warm-up): {reasons or 'none'}")
        print("\n" + summarize(runs, args.concurrency) + "\n")
        for line in verdict(runs, max(args.concurrency)):
            print(line)
        if args.profile:
            print(f"\nprofile (py-spy, ingest load at c={max(args.concurrency)}):")
            print(profile(env, server, args, data, data_dir))
        if args.json:
            args.json.write_text(
                json.dumps(
                    {"revision": git_revision(),
                     "args": {k: (str(v) if isinstance(v, Path) else v)
                              for k, v in vars(args).items()},
                     "runs": [asdict(r) | {"balanced": r.balanced} for r in runs]},
                    indent=1,
                )
            )  # fmt: skip
        report_server_errors(server, keep=args.keep)
        return 0 if all(r.balanced is not False for r in runs) else 1
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        server.stop()
        if not args.keep:
            with contextlib.suppress(Exception):
                pg_admin(env, f'DROP DATABASE IF EXISTS "{env.db_name}" WITH (FORCE)')
            with contextlib.suppress(Exception):
                redis_flush(env.redis_url)
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"kept database {env.db_name} and {data_dir}")


if __name__ == "__main__":
    sys.exit(main())
