"""Fault tests: the production server on a private PostgreSQL and Redis, broken on purpose.

    .venv/bin/python systemtests/faults.py             # every scenario (make test-faults)
    .venv/bin/python systemtests/faults.py --only pg,redis --pg-outage 60 --keep

Nothing shared is touched: the script starts its own PostgreSQL cluster (``initdb`` into a
temporary directory, its own port and socket directory; as root it runs the cluster as the
``postgres`` user) and its own ``redis-server`` (no persistence), then the production
processes against them: ``simple-analytics serve --no-jobs`` (the supervisor and granian,
as deployed) and ``simple-analytics worker --scheduler``. Client threads send real HTTP
events, each with a unique client event id, one after another per thread like
``pixel.js`` (a 503 is retried with the same id after its ``Retry-After``, at most 2 s
here, as pixel.js waits 2 s and 4 s; a refused connection after 0.2 s). Scenarios:

1. ``pg``: PostgreSQL stopped mid-traffic (``pg_ctl stop -m fast``), started again after
   ``--pg-outage`` seconds. Every answer is a 2xx, or a 503 with ``Retry-After``, within
   2 s: no 500, no hang, no refused connection. Afterwards the stored events are exactly
   the accepted ids (their dedup keys, read from the private database): none missing,
   none extra, none twice.
2. ``redis``: Redis stopped, started again (empty). Ingestion answers 2xx throughout, the
   dashboard page and the stats API answer 200, ``simple-analytics status`` reports the
   queue unreachable while it is down and not after; after it returns the refresh job runs
   again and the open day's snapshot counts exactly the accepted page views.
3. ``worker``: the consumer is killed (SIGKILL) in the middle of rolling up 20 days of
   imported events, restarted, and the rollup run again: the closed snapshots equal a
   from-scratch rollup of the same raw data.
4. ``sigterm``: SIGTERM to the web server and then to the worker under load, both
   restarted. Every answer before, during and after is a 2xx, a 503 with ``Retry-After``
   or a refused/reset connection (while the server is down), and the clients' retries
   end with the stored events equal to the accepted ids, exactly.

Exit status 0 when every scenario passes. Without the PostgreSQL binaries
(``PG_BIN``, default /usr/lib/postgresql/15/bin) or ``redis-server`` it skips, except
under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from systemtests.harness import (
    CLI,
    HOST,
    PrivatePostgres,
    PrivateRedis,
    Proc,
    cli,
    fixture_code,
    fixture_from,
    free_port,
    logger,
    private_services_missing,
    server_env,
    wait_http,
)

DB_NAME = "sa_faults"
ANSWER_LIMIT_S = 2.0  # every answer, 2xx or 503, comes within this
RETRY_CAP_S = 2.0  # clients wait min(Retry-After, this) before retrying a 503

AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
]
PATHS = [
    "/",
    "/pricing",
    "/features",
    "/blog",
    "/blog/privacy-first",
    "/docs",
    "/docs/api",
    "/about",
    "/contact",
    "/signup",
]
REFERRERS = ["", "", "https://www.google.com/", "https://news.ycombinator.com/", "https://t.co/"]
log = logger("faults")


def dedup_key(website_id: int, event_id: str) -> int:
    # The same hash as tracking.pipeline.add_dedup_key (the stored key of a client id).
    digest = hashlib.blake2b(f"{website_id}\x1f{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# --- Clients ----------------------------------------------------------------------------
@dataclass
class Attempt:
    thread: int
    event_id: str
    at: float  # monotonic, when sent
    latency: float
    status: int | None  # None: no HTTP answer (error)
    retry_after: str | None = None
    error: str = ""


@dataclass
class Accepted:
    event_id: str
    type: str
    site: str
    attempts: int


class Traffic:
    """Client threads that send realistic visits, one event after another per thread,
    each event with its own id, retried (same id) until it is answered 2xx."""

    def __init__(
        self,
        ports: list[int],
        site: str,
        *,
        threads: int = 6,
        pace_s: float = 0.02,
        retry_cap_s: float = RETRY_CAP_S,
        timeout_s: float = 10.0,
        label: str = "t",
    ) -> None:
        self.ports = ports
        self.site = site
        self.n_threads = threads
        self.pace_s = pace_s
        self.retry_cap_s = retry_cap_s
        self.timeout_s = timeout_s
        self.label = label
        self.attempts: list[Attempt] = []
        self.accepted: dict[str, Accepted] = {}
        self.unfinished: list[str] = []  # ids still unanswered 2xx when the drain ended
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drain_deadline = float("inf")
        self._threads: list[threading.Thread] = []

    # public
    def start(self) -> None:
        for n in range(self.n_threads):
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, drain_s: float = 30.0) -> None:
        """Stop starting events; each thread keeps retrying its current one until it is
        accepted or ``drain_s`` passed."""
        self._drain_deadline = time.monotonic() + drain_s
        self._stop.set()
        for t in self._threads:
            t.join(timeout=drain_s + self.timeout_s + 5)

    def pageviews(self) -> int:
        return sum(1 for a in self.accepted.values() if a.type != "PAGE_EXIT")

    def ok_since(self, t: float) -> set[int]:
        """Threads that got a 2xx for a request sent after ``t``."""
        with self._lock:
            return {a.thread for a in self.attempts if a.at >= t and a.status and a.status < 300}

    # internals
    def _run(self, n: int) -> None:
        rng = random.Random(f"{self.label}-{n}-{secrets.token_hex(4)}")
        conns: dict[int, http.client.HTTPConnection] = {}
        turn = n
        while not self._stop.is_set():
            ip = (
                f"{rng.choice([5, 31, 46, 77, 89, 109, 151])}.{rng.randrange(256)}."
                f"{rng.randrange(256)}.{rng.randrange(1, 255)}"
            )
            ua = rng.choice(AGENTS)
            views = 1 + min(4, int(rng.expovariate(0.7)))
            spa = rng.random() < 0.5
            url = ""
            for v in range(views + 1):
                if self._stop.is_set():
                    break
                if v < views:
                    kind = "PAGE_VIEW" if v == 0 or not spa else "PATH_CHANGE"
                    url = f"https://faults.example{rng.choice(PATHS)}"
                    body: dict[str, Any] = {
                        "site": self.site,
                        "type": kind,
                        "url": url,
                        "screen": 1440,
                    }
                    if v == 0 and (ref := rng.choice(REFERRERS)):
                        body["referrer"] = ref
                else:  # the exit, only after the visit's views were all accepted
                    body = {
                        "site": self.site,
                        "type": "PAGE_EXIT",
                        "url": url,
                        "engaged_ms": rng.randrange(1000, 60000),
                    }
                body["id"] = f"{self.label}{n}-{secrets.token_hex(12)}"
                turn += 1
                if not self._send_until_accepted(n, conns, turn, body, ua, ip):
                    return
                time.sleep(self.pace_s)

    def _send_until_accepted(
        self,
        n: int,
        conns: dict[int, http.client.HTTPConnection],
        turn: int,
        body: dict[str, Any],
        ua: str,
        ip: str,
    ) -> bool:
        data = json.dumps(body).encode()
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "User-Agent": ua,
            "X-Forwarded-For": ip,
            "Origin": "https://faults.example",
        }
        tries = 0
        k = turn
        while True:
            if self._stop.is_set() and time.monotonic() > self._drain_deadline:
                with self._lock:
                    self.unfinished.append(body["id"])
                return False
            port = self.ports[k % len(self.ports)]
            k += 1
            tries += 1
            t0 = time.monotonic()
            status: int | None = None
            retry_after = None
            error = ""
            try:
                conn = conns.get(port)
                if conn is None:
                    conn = conns[port] = http.client.HTTPConnection(
                        HOST, port, timeout=self.timeout_s
                    )
                conn.request("POST", "/api/event", body=data, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                retry_after = resp.getheader("Retry-After")
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conns.pop(port, None)
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__ + (": timeout" if isinstance(exc, TimeoutError) else "")
                with contextlib.suppress(Exception):
                    conns.pop(port).close()
            latency = time.monotonic() - t0
            with self._lock:
                self.attempts.append(
                    Attempt(n, body["id"], t0, latency, status, retry_after, error)
                )
                if status is not None and 200 <= status < 300:
                    self.accepted[body["id"]] = Accepted(body["id"], body["type"], self.site, tries)
                    return True
            if status == 503:
                try:
                    wait = float(retry_after or 1)
                except ValueError:
                    wait = 1.0
                time.sleep(min(wait, self.retry_cap_s))
            elif status is None:
                time.sleep(0.2)  # refused or reset: the server is restarting
            else:
                time.sleep(0.5)  # a 500 or 4xx: reported by the checks; try again


def answer_problems(
    attempts: list[Attempt],
    *,
    allow_errors_between: Sequence[tuple[float, float]] = (),
    allow_503: bool = True,
) -> list[str]:
    """Every answer a 2xx or a 503 with Retry-After, each within ANSWER_LIMIT_S; no
    connection errors outside the given windows (a server being restarted)."""
    problems = []
    bad_status = Counter(
        a.status
        for a in attempts
        if a.status is not None and not (200 <= a.status < 300 or (allow_503 and a.status == 503))
    )
    if bad_status:
        problems.append(f"answers other than 2xx/503: {dict(bad_status)}")
    no_ra = [a for a in attempts if a.status == 503 and not a.retry_after]
    if no_ra:
        problems.append(f"{len(no_ra)} answers 503 without Retry-After")
    slow = [a for a in attempts if a.status is not None and a.latency > ANSWER_LIMIT_S]
    if slow:
        problems.append(
            f"{len(slow)} answers slower than {ANSWER_LIMIT_S} s (slowest "
            f"{max(a.latency for a in slow):.2f} s)"
        )
    errors = [
        a
        for a in attempts
        if a.status is None and not any(lo <= a.at <= hi for lo, hi in allow_errors_between)
    ]
    if errors:
        kinds = Counter(a.error for a in errors)
        problems.append(f"{len(errors)} requests without an HTTP answer: {dict(kinds)}")
    return problems


def describe_answers(attempts: list[Attempt]) -> str:
    statuses = Counter(a.status if a.status is not None else "no answer" for a in attempts)
    answered = sorted(a.latency for a in attempts if a.status is not None)
    p99 = answered[min(len(answered) - 1, int(0.99 * len(answered)))] if answered else 0
    return (
        f"{len(attempts)} requests: "
        + ", ".join(f"{k}: {v}" for k, v in statuses.items())
        + (
            f"; latency p99 {p99 * 1000:.0f} ms, max {answered[-1] * 1000:.0f} ms"
            if answered
            else ""
        )
    )


# --- The deployment under test ----------------------------------------------------------
@dataclass
class Deployment:
    root: Path
    pg: PrivatePostgres
    redis: PrivateRedis
    web_port: int
    env: dict[str, str] = field(default_factory=dict)
    sites: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (tracking id, pk)
    web: Proc | None = None
    worker: Proc | None = None
    session_cookie: str = ""
    api_key: str = ""

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.pg.dsn(DB_NAME), autocommit=True, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def cli(
        self, *args: str, check: bool = True, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return cli(self.env, *args, check=check, timeout=timeout, stdin=stdin)

    def setup(self) -> None:
        import psycopg

        self.pg.init()
        self.pg.start()
        self.redis.start()
        with psycopg.connect(self.pg.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        data_dir = self.root / "data"
        data_dir.mkdir()
        self.env = server_env(
            database_url=self.pg.url(DB_NAME),
            redis_url=self.redis.url(0),
            data_dir=data_dir,
            host=HOST,
            WEB_WORKERS="2",
            WEB_THREADS="16",
        )
        self.cli("migrate", "--verbosity", "0")
        # One process for the rest (each CLI start costs seconds on a busy machine): the
        # user, a website per scenario, a logged-in browser session and an API key.
        names = ["pg", "redis", "worker", "sigterm"]
        # The traffic's pages are on the parent domain of every site.
        code = fixture_code(
            "faults@example.com", [f"{n}.faults.example" for n in names], "*.faults.example"
        )
        made = fixture_from(self.cli("shell", "-c", code).stdout)
        self.sites = {n: tuple(made["sites"][f"{n}.faults.example"]) for n in names}
        self.session_cookie, self.api_key = made["session"], made["key"]

    def start_web(self) -> None:
        argv = [CLI, "serve", "--no-jobs", "--no-migrate", "--host", HOST]
        self.web = Proc("web", [*argv, "--port", str(self.web_port)], self.env, self.root)
        self.web.start()
        wait_http(self.web_port)

    def start_worker(self) -> None:
        self.worker = Proc("worker", [CLI, "worker", "--scheduler"], self.env, self.root)
        self.worker.start()

    def stored_problems(self, site: str, accepted: dict[str, Accepted]) -> list[str]:
        """The stored events of ``site`` are exactly the accepted ids: none missing, none
        extra, none twice (duplicates of a retried id are refused by the writer)."""
        tracking_id, pk = self.sites[site]
        rows = self.query("SELECT dedup_key FROM tracking_event WHERE website_id = %s", (pk,))
        stored = Counter(r[0] for r in rows)
        expected = {dedup_key(pk, i) for i in accepted}
        problems = []
        if None in stored:
            problems.append(f"{stored[None]} stored events without an id")
        twice = sum(1 for k, c in stored.items() if k is not None and c > 1)
        if twice:
            problems.append(f"{twice} ids stored more than once")
        missing = expected - set(stored)
        extra = set(stored) - expected - {None}
        if missing:
            problems.append(f"{len(missing)} accepted events are not stored")
        if extra:
            problems.append(f"{len(extra)} stored events were never answered 2xx")
        return problems

    def drops(self, site: str) -> dict[str, int]:
        _, pk = self.sites[site]
        return dict(
            self.query(
                "SELECT reason, sum(count)::int FROM tracking_dropcount "
                "WHERE website_id = %s GROUP BY reason",
                (pk,),
            )
        )

    def get(
        self, path: str, headers: dict[str, str], timeout: float = 10
    ) -> tuple[int, bytes, float]:
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(HOST, self.web_port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(), time.monotonic() - t0
        finally:
            conn.close()

    def stats_api(self, site: str) -> tuple[int, dict[str, Any] | None, float]:
        tracking_id, _ = self.sites[site]
        today = dt.datetime.now(dt.UTC).date()
        q = urllib.parse.urlencode(
            {"site": tracking_id, "from": str(today - dt.timedelta(days=1)), "to": str(today)}
        )
        status, body, took = self.get(
            f"/api/v1/stats?{q}", {"Authorization": f"Bearer {self.api_key}"}
        )
        return status, (json.loads(body) if status == 200 else None), took

    def dashboard(self, site: str) -> tuple[int, float]:
        _, pk = self.sites[site]
        status, _, took = self.get(
            f"/websites/{pk}/", {"Cookie": f"sessionid={self.session_cookie}"}
        )
        return status, took

    def status_json(self) -> dict[str, Any]:
        status: dict[str, Any] = json.loads(
            self.cli("status", "--json", check=False, timeout=60).stdout or "{}"
        )
        return status

    def wait_stats_api(self, site: str, pageviews: int, timeout: float = 45) -> str | None:
        """None once the stats API counts ``pageviews`` (its answers follow the refresh job's
        snapshot and cache versions); else what it shows."""
        deadline = time.monotonic() + timeout
        shown = None
        while time.monotonic() < deadline:
            status, stats, _ = self.stats_api(site)
            shown = stats.get("pageviews") if stats else f"HTTP {status}"
            if shown == pageviews:
                return None
            time.sleep(0.5)
        return f"the stats API shows {shown} page views, not the {pageviews} accepted"

    def open_day_snapshot(self, site: str) -> tuple[int, dt.datetime] | None:
        """(page views, computed at) of the site's daily snapshot of today (UTC site)."""
        _, pk = self.sites[site]
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        rows = self.query(
            "SELECT pageviews, computed_at FROM rollups_snapshot WHERE website_id "
            "= %s AND granularity = 'day' AND start = %s",
            (pk, today),
        )
        return rows[0] if rows else None

    def wait_refreshed(self, site: str, pageviews: int, timeout: float = 45) -> str | None:
        """None once the open day's snapshot counts ``pageviews``; else what it shows."""
        deadline = time.monotonic() + timeout
        snap = None
        while time.monotonic() < deadline:
            snap = self.open_day_snapshot(site)
            if snap is not None and snap[0] == pageviews:
                return None
            time.sleep(0.5)
        return f"the open day's snapshot shows {snap[0] if snap else 'nothing'}, not {pageviews}"


# --- Scenarios --------------------------------------------------------------------------
@dataclass
class Outcome:
    name: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def scenario_pg(d: Deployment, outage_s: float) -> Outcome:
    out = Outcome(f"PostgreSQL stopped for {outage_s:.0f} s mid-traffic")
    traffic = Traffic([d.web_port], d.sites["pg"][0], threads=6, label="pg")
    traffic.start()
    time.sleep(4)
    before = len(traffic.accepted)
    t_down = time.monotonic()
    d.pg.stop("fast")
    log(f"PostgreSQL stopped ({before} events accepted before)")
    time.sleep(outage_s)
    d.pg.start()
    t_up = time.monotonic()
    log("PostgreSQL started again")
    # Recovery: every client thread has an event accepted again.
    recovered = None
    while time.monotonic() - t_up < 60:
        if len(traffic.ok_since(t_up)) == traffic.n_threads:
            recovered = time.monotonic() - t_up
            break
        time.sleep(0.1)
    time.sleep(3)
    traffic.stop(drain_s=30)
    during = [a for a in traffic.attempts if t_down <= a.at <= t_up]
    out.notes.append(describe_answers(traffic.attempts))
    out.notes.append("while PostgreSQL was down: " + describe_answers(during))
    out.problems += answer_problems(traffic.attempts)
    if not any(a.status == 503 for a in during):
        out.problems.append("no 503 while PostgreSQL was down: the fault was not observed")
    if recovered is None:
        out.problems.append("ingestion did not recover within 60 s of PostgreSQL's restart")
    else:
        out.notes.append(f"every client had an event accepted {recovered:.1f} s after the restart")
    if traffic.unfinished:
        out.problems.append(f"{len(traffic.unfinished)} events never accepted")
    out.problems += d.stored_problems("pg", traffic.accepted)
    out.notes.append(
        f"{len(traffic.accepted)} events accepted and stored exactly once; "
        f"drops: {d.drops('pg') or 'none'}"
    )
    return out


def scenario_redis(d: Deployment, outage_s: float) -> Outcome:
    out = Outcome(f"Redis stopped for {outage_s:.0f} s")
    traffic = Traffic([d.web_port], d.sites["redis"][0], threads=4, label="rd")
    reads: list[tuple[str, float, int, float]] = []  # (what, at, status, seconds)
    stop_reads = threading.Event()

    def reader() -> None:
        while not stop_reads.is_set():
            for what in ("dashboard", "api"):
                t0 = time.monotonic()
                try:
                    if what == "dashboard":
                        status, took = d.dashboard("redis")
                    else:
                        status, _, took = d.stats_api("redis")
                except OSError as exc:
                    status, took = 0, time.monotonic() - t0
                    log(f"{what} read failed: {exc}")
                reads.append((what, t0, status, took))
            time.sleep(0.3)

    traffic.start()
    reads_thread = threading.Thread(target=reader, daemon=True)
    reads_thread.start()
    time.sleep(3)
    t_down = time.monotonic()
    d.redis.stop()
    log("Redis stopped")
    time.sleep(min(3.0, outage_s / 2))
    status_down = d.status_json()
    time.sleep(max(0.0, outage_s - (time.monotonic() - t_down)))
    d.redis.start()
    t_up = time.monotonic()
    log("Redis started again (empty)")
    time.sleep(3)
    status_up = d.status_json()
    traffic.stop(drain_s=20)
    stop_reads.set()
    reads_thread.join(timeout=30)
    during = [a for a in traffic.attempts if t_down <= a.at <= t_up]
    out.notes.append(describe_answers(traffic.attempts))
    out.notes.append("while Redis was down: " + describe_answers(during))
    if not during:
        out.problems.append("no event was sent while Redis was down")
    out.problems += answer_problems(traffic.attempts, allow_503=False)
    bad_reads = [(w, s) for w, _, s, _ in reads if s != 200]
    reads_down = [r for r in reads if t_down <= r[1] <= t_up]
    if bad_reads:
        out.problems.append(f"dashboard/API reads not answered 200: {Counter(bad_reads)}")
    if not reads_down:
        out.problems.append("no dashboard read while Redis was down")
    out.notes.append(
        f"{len(reads)} dashboard and stats API reads, {len(reads_down)} while Redis "
        f"was down, slowest {max((r[3] for r in reads), default=0):.2f} s"
    )
    down_warnings = [w for w in status_down.get("warnings", []) if "queue unreachable" in w]
    if not down_warnings:
        out.problems.append(
            f"`status` did not report the queue unreachable: {status_down.get('warnings')}"
        )
    else:
        out.notes.append(f"status while down: {down_warnings[0][:90]}")
    if any("queue unreachable" in w for w in status_up.get("warnings", [])):
        out.problems.append("`status` still reports the queue unreachable after Redis returned")
    out.problems += d.stored_problems("redis", traffic.accepted)
    # After Redis came back, refresh jobs run again: today's snapshot counts every view.
    problem = d.wait_refreshed("redis", traffic.pageviews())
    if problem:
        out.problems.append("after Redis returned, " + problem)
    problem = d.wait_stats_api("redis", traffic.pageviews())
    if problem:
        out.problems.append(problem)
    out.notes.append(
        f"{len(traffic.accepted)} events accepted and stored; stats API and "
        f"snapshot show {traffic.pageviews()} page views"
    )
    if not d.worker or not d.worker.alive():
        out.problems.append("the worker exited while Redis was down")
    return out


def import_history(d: Deployment, site: str, days: int, per_day: int) -> int:
    tracking_id, _ = d.sites[site]
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    lines = []
    for day in range(days, 0, -1):
        base = now - dt.timedelta(days=day)
        for i in range(per_day):
            at = base + dt.timedelta(seconds=rng.randrange(0, 86400 - 600))
            ip = f"198.51.{day}.{i % 250}"
            ua = AGENTS[i % len(AGENTS)]
            for k in range(1 + i % 3):
                ts = (at + dt.timedelta(seconds=40 * k)).isoformat()
                body = {
                    "site": tracking_id,
                    "type": "PAGE_VIEW" if k == 0 else "PATH_CHANGE",
                    "url": f"https://worker.faults.example{rng.choice(PATHS)}",
                    "referrer": rng.choice(REFERRERS),
                    "ts": ts,
                    "ip": ip,
                    "user_agent": ua,
                }
                lines.append((ts, json.dumps(body)))
    lines.sort()
    path = d.root / "history.ndjson"
    path.write_text("\n".join(body for _, body in lines) + "\n")
    d.cli("import-events", str(path), "--quiet")
    return len(lines)


ENQUEUE_ROLLUP = "from jobs.tasks import rollup_all; rollup_all()"


def leftover_locks(d: Deployment) -> list[str]:
    """Huey task locks held right now (fields ``<queue>.lock.<name>`` of its results hash)."""
    import redis

    client = redis.Redis.from_url(d.redis.url(0), socket_timeout=5)
    found = []
    for key in client.scan_iter("huey.results.*"):
        for field_name in client.hkeys(key):
            name = field_name.decode() if isinstance(field_name, bytes) else field_name
            if ".lock." in name:
                found.append(name.split(".lock.", 1)[1])
    return sorted(found)


def snapshot_state(
    d: Deployment, pk: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, Any]]:
    """Closed snapshots and their rows (everything but computed_at), and the watermarks."""
    marks = dict(
        d.query(
            "SELECT granularity, closed_until FROM rollups_watermark WHERE website_id = %s", (pk,)
        )
    )
    snaps, rows = [], []
    for g, closed in marks.items():
        if closed is None:
            continue
        snaps += d.query(
            "SELECT granularity, start, pageviews, visitors, sessions, bounces, duration_s, "
            "session_pageviews, exits FROM rollups_snapshot WHERE website_id = %s AND "
            "granularity = %s AND start < %s ORDER BY 1, 2",
            (pk, g, closed),
        )
        rows += d.query(
            "SELECT granularity, start, dimension, value, pageviews, visitors, sessions, bounces, "
            "duration_s, exits FROM rollups_snapshotrow WHERE website_id = %s AND granularity = %s "
            "AND start < %s ORDER BY 1, 2, 3, 4",
            (pk, g, closed),
        )
    return sorted(snaps), sorted(rows), marks


def scenario_worker(d: Deployment) -> Outcome:
    out = Outcome("worker killed (SIGKILL) mid-rollup and restarted")
    tracking_id, pk = d.sites["worker"]
    assert d.worker is not None
    # No consumer while the data goes in: the rollup must start from nothing, in the worker.
    d.worker.signal(signal.SIGTERM)
    if d.worker.wait(30) is None:
        d.worker.kill()
    n = import_history(d, "worker", days=20, per_day=150)
    out.notes.append(f"imported {n} events over 20 days")
    t_enqueued = dt.datetime.now(dt.UTC)
    d.cli("shell", "-c", ENQUEUE_ROLLUP)
    d.start_worker()
    t0 = time.monotonic()
    killed_at = None
    while time.monotonic() - t0 < 120:
        ((hours,),) = d.query(
            "SELECT count(*) FROM rollups_snapshot WHERE website_id = %s AND granularity = 'hour'",
            (pk,),
        )
        if hours >= 30:
            d.worker.kill()  # SIGKILL to the whole process group
            killed_at = hours
            break
        time.sleep(0.05)
    if killed_at is None:
        out.problems.append("the rollup never got going: nothing to kill")
        return out
    held_at_kill = leftover_locks(d)
    marks = dict(
        d.query(
            "SELECT granularity, closed_until FROM rollups_watermark WHERE website_id = %s", (pk,)
        )
    )
    # Only a success of the run enqueued above counts: the scheduler's own quarter-hourly
    # rollup_all may have succeeded before (the scenario then was flaky on the clock).
    ((runs,),) = d.query(
        "SELECT count(*) FROM rollups_jobrun WHERE name = 'rollup_all' AND last_success_at > %s",
        (t_enqueued,),
    )
    out.notes.append(
        f"killed after {killed_at} hourly snapshots; watermarks then: "
        + ", ".join(f"{g} {v:%m-%d %H:%M}" if v else f"{g} none" for g, v in sorted(marks.items()))
    )
    if runs:
        out.problems.append("rollup_all had already finished when the worker was killed")
    # Restart: the scheduling consumer clears the lock the killed one left, then rolls up.
    t_restart = dt.datetime.now(dt.UTC)
    d.start_worker()
    d.cli("shell", "-c", ENQUEUE_ROLLUP)
    deadline = time.monotonic() + 120
    done = False
    while time.monotonic() < deadline:
        rows = d.query(
            "SELECT last_success_at, last_error_at, last_error FROM rollups_jobrun "
            "WHERE name = 'rollup_all'"
        )
        if rows and rows[0][0] and rows[0][0] > t_restart:
            done = True
            break
        time.sleep(0.3)
    if not done:
        out.problems.append(f"rollup_all did not succeed after the restart: {rows}")
        return out
    stuck = sorted(set(held_at_kill) & set(leftover_locks(d)))
    out.notes.append(f"locks held when killed: {', '.join(held_at_kill) or 'none'}")
    if stuck:
        # A job killed while holding its lock: huey's locks never expire (reported; the
        # closed snapshots below do not depend on it, that website's refreshes do).
        out.notes.append(f"KNOWN ISSUE: still held after the restart: {', '.join(stuck)}")
    recovered = snapshot_state(d, pk)
    # From scratch: forget every snapshot of the website and roll up again (the CLI runs
    # the same code in its own process).
    d.query("DELETE FROM rollups_snapshotrow WHERE website_id = %s RETURNING 1", (pk,))
    d.query("DELETE FROM rollups_snapshot WHERE website_id = %s RETURNING 1", (pk,))
    d.query("DELETE FROM rollups_watermark WHERE website_id = %s RETURNING 1", (pk,))
    d.cli("rollup", "--site", tracking_id, "--quiet")
    scratch = snapshot_state(d, pk)
    if recovered[2] != scratch[2]:
        out.problems.append(
            f"watermarks differ: recovered {recovered[2]}, from scratch {scratch[2]}"
        )
    if recovered[0] != scratch[0]:
        diff = len(set(recovered[0]) ^ set(scratch[0]))
        out.problems.append(f"snapshots differ from the from-scratch rollup ({diff} rows differ)")
    if recovered[1] != scratch[1]:
        diff = len(set(recovered[1]) ^ set(scratch[1]))
        out.problems.append(f"snapshot rows differ from the from-scratch rollup ({diff} differ)")
    if not recovered[0]:
        out.problems.append("no snapshots were written")
    out.notes.append(
        f"recovered = from scratch: {len(recovered[0])} snapshots, "
        f"{len(recovered[1])} breakdown rows"
    )
    return out


def _terminate(proc: Proc, name: str, timeout: float, out: Outcome) -> None:
    """SIGTERM, as a service manager sends it; a problem if it has not exited in time."""
    started = time.monotonic()
    proc.signal(signal.SIGTERM)
    code = proc.wait(timeout)
    took = time.monotonic() - started
    if code is None:
        out.problems.append(f"the {name} did not exit within {timeout:.0f} s of SIGTERM")
        proc.kill()
    out.notes.append(f"{name} exited {took:.1f} s after SIGTERM with code {code}")


def scenario_sigterm(d: Deployment) -> Outcome:
    out = Outcome("SIGTERM to the web server, then the worker, under load")
    assert d.web is not None and d.worker is not None
    traffic = Traffic([d.web_port], d.sites["sigterm"][0], threads=8, pace_s=0.01, label="st")
    traffic.start()
    time.sleep(3)
    # Web: SIGTERM to the main process, as a service manager does; restart when it is gone.
    t_term = time.monotonic()
    _terminate(d.web, "web server", 30, out)
    d.start_web()
    t_web_up = time.monotonic()
    time.sleep(3)
    # Worker: SIGTERM while refresh jobs keep coming (1 s debounce under this load).
    _terminate(d.worker, "worker", 40, out)
    last_run = d.worker.log_text().rsplit("=== start", 1)[-1]
    if "Shutting down gracefully" not in last_run:
        # huey's default takes SIGTERM as "stop now", abandoning running jobs half-way.
        out.problems.append("the worker did not shut down gracefully on SIGTERM")
    if "did not finish" in last_run:
        out.problems.append("a job was interrupted by the worker's shutdown")
    d.start_worker()
    time.sleep(3)
    traffic.stop(drain_s=30)
    out.notes.append(describe_answers(traffic.attempts))
    in_flight = [a for a in traffic.attempts if a.at < t_term < a.at + a.latency]
    out.notes.append(
        f"in flight at SIGTERM: {len(in_flight)}, of which answered 2xx: "
        f"{sum(1 for a in in_flight if a.status and a.status < 300)}, without an answer: "
        f"{sum(1 for a in in_flight if a.status is None)}"
    )
    around = [a for a in traffic.attempts if t_term <= a.at <= t_web_up]
    out.notes.append("from SIGTERM to the restarted server: " + describe_answers(around))
    out.problems += answer_problems(traffic.attempts, allow_errors_between=[(t_term, t_web_up)])
    if traffic.unfinished:
        out.problems.append(f"{len(traffic.unfinished)} events never accepted")
    out.problems += d.stored_problems("sigterm", traffic.accepted)
    drops = d.drops("sigterm")
    out.notes.append(
        f"{len(traffic.accepted)} events accepted and stored exactly once; drops: {drops or 'none'}"
    )
    problem = d.wait_refreshed("sigterm", traffic.pageviews())
    if problem:
        out.problems.append("after the worker's restart, " + problem)
    for proc in (d.web, d.worker):
        text = proc.log_text()
        if "Traceback" in text:
            out.notes.append(f"{proc.name} log has {text.count('Traceback')} tracebacks")
    return out


# --- Main -------------------------------------------------------------------------------
def main() -> int:
    ci = os.environ.get("CI") == "true"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default="pg,redis,worker,sigterm",
        help="comma-separated scenarios: pg, redis, worker, sigterm",
    )
    parser.add_argument(
        "--pg-outage", type=float, default=30.0, help="seconds PostgreSQL stays down (30)"
    )
    parser.add_argument("--redis-outage", type=float, default=8.0)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data)")
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    args = parser.parse_args()
    outage = args.pg_outage
    scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(scenarios) - {"pg", "redis", "worker", "sigterm"}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    missing = private_services_missing()
    if missing:
        msg = f"fault tests need {', '.join(missing)}"
        if ci:
            print(f"{msg} (required under CI=true)")
            return 1
        print(f"{msg}: skipping the fault tests")
        return 0

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="sa-faults-"))
    root.chmod(0o711)  # the postgres user must reach its directory inside
    d = Deployment(
        root=root,
        pg=PrivatePostgres(root, free_port()),
        redis=PrivateRedis(root, free_port()),
        web_port=free_port(),
    )
    outcomes: list[Outcome] = []
    try:
        log(f"private PostgreSQL on port {d.pg.port}, Redis on {d.redis.port}, in {root}")
        d.setup()
        d.start_web()
        d.start_worker()
        log(f"set up in {time.monotonic() - started:.0f} s; web server on port {d.web_port}")
        for name in scenarios:
            t0 = time.monotonic()
            log(f"scenario {name}")
            if name == "pg":
                o = scenario_pg(d, outage)
            elif name == "redis":
                o = scenario_redis(d, args.redis_outage)
            elif name == "worker":
                o = scenario_worker(d)
            else:
                o = scenario_sigterm(d)
            o.seconds = time.monotonic() - t0
            outcomes.append(o)
            for note in o.notes:
                log(f"  {note}")
            for p in o.problems:
                log(f"  FAIL: {p}")
            log(f"  {'FAIL' if o.problems else 'PASS'}: {o.name} ({o.seconds:.0f} s)")
            # Each scenario needs both processes up and PostgreSQL and Redis running.
            if not d.pg.running():
                d.pg.start()
            if d.redis.proc is None:
                d.redis.start()
            if not (d.web and d.web.alive()):
                d.start_web()
            if not (d.worker and d.worker.alive()):
                d.start_worker()
    except Exception as exc:
        outcomes.append(Outcome("setup or scenario crashed", problems=[repr(exc)]))
        log(f"FAIL: {exc!r}")
        for proc in (d.web, d.worker):
            if proc:
                log(f"--- {proc.name} log tail ---\n{proc.log_text()[-3000:]}")
    finally:
        for proc in (d.web, d.worker):
            if proc:
                proc.kill()
        d.redis.stop()
        if d.pg.running():
            with contextlib.suppress(Exception):
                d.pg.stop("immediate")
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    failed = [o for o in outcomes if o.problems]
    log(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} scenarios passed in "
        f"{time.monotonic() - started:.0f} s"
    )
    return 1 if failed or not outcomes else 0


if __name__ == "__main__":
    sys.exit(main())
