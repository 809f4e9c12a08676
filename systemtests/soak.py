"""Soak test: minutes of realistic mixed traffic against a scale-out deployment.

    .venv/bin/python systemtests/soak.py                       # 10 minutes at 70% of capacity
    .venv/bin/python systemtests/soak.py --minutes 1 --rate 150   # what `make test` runs

The deployment, all on 127.0.0.1 and removed when the run ends: the database ``sa_soak``
on the shared PostgreSQL (dropped and recreated), Redis db 8 (flushed), and the production
processes as a scaled-out install runs them: two web server instances (``simple-analytics
serve --no-jobs``, each its own supervisor and granian, ``--web-workers`` each) on two
ports, two job consumers (``simple-analytics worker``) and one consumer with the scheduler
(``worker --scheduler``).

The load: an open-loop client (its own process, asyncio, keep-alive connections to both
servers) sends ``POST /api/event`` at a fixed rate, round robin over the two servers,
with the traffic of ``bench/ingest.py`` (``bench/traffic.py``: thousands of visitors in progress at once, real
browser User-Agents, referrers, UTM tags, PAGE_VIEW / PATH_CHANGE / PAGE_EXIT), each
event with its own client id like pixel.js. The rate defaults to 70% of the ingestion
capacity measured in docs/PERFORMANCE.md (1,983 events/s at c=64: 1,388/s); latency is
counted from each request's scheduled time, so a server that falls behind shows in it.
Meanwhile a reader fetches the dashboard page and the stats API (summary, time series,
breakdown) from both servers in turn, one every 2 s (``--reads``).

Reported and checked:
- errors: every ingestion request and every read answered 2xx (0 errors);
- p50/p99/max latency of ingestion and of the reads;
- RSS of every process of the deployment, sampled every 5 s: start (after the first
  minute's warm-up, or the first sample of a shorter run), end and max; memory is flat when
  no process ends more than 10% (and 15 MB) above where it started (runs of 5 minutes or
  more);
- the job queue (pending + scheduled) drains within 60 s after the traffic stops;
- stored events plus counted drops equal the accepted events, and the dashboard totals
  (the stats API, after the refresh jobs ran) equal exactly the accepted page views.

Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import multiprocessing as mp
import os
import queue
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.traffic import (
    SITE_DOMAIN,
    describe_traffic,
    generate_events,
    post_request,
    read_events,
    write_events,
)
from systemtests.harness import (
    CLI,
    HOST,
    Proc,
    cli,
    cpu_delta,
    fixture_code,
    fixture_from,
    free_port,
    logger,
    machine_cpu,
    postgres_pids,
    proc_cpu,
    reachable,
    rss_kb,
    server_env,
    wait_http,
)

# docs/PERFORMANCE.md, "Ingestion": accepted events/s at c=64, median of 3 (145ba35).
MEASURED_CAPACITY = 1983.0
PAGEVIEW_TYPES = (b'"type":"PAGE_VIEW"', b'"type":"PATH_CHANGE"')
log = logger("soak")


# --- The deployment ---------------------------------------------------------------------
@dataclass
class Deployment:
    tmp: Path
    db_name: str
    redis_url: str
    ports: list[int]
    web_workers: int
    env: dict[str, str] = field(default_factory=dict)
    tracking_id: str = ""
    site_pk: int = 0
    api_key: str = ""
    session: str = ""
    procs: list[Proc] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@{HOST}:5432/{self.db_name}"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            return conn.execute(sql).fetchall()

    def cli(self, *args: str, timeout: float = 300) -> str:
        return cli(self.env, *args, timeout=timeout).stdout

    def setup(self) -> None:
        import psycopg
        import redis

        with psycopg.connect(
            f"host={HOST} port=5432 user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.db_name}"')
        redis.Redis.from_url(self.redis_url).flushdb()
        data_dir = self.tmp / "data"
        data_dir.mkdir()
        self.env = server_env(
            database_url=self.database_url,
            redis_url=self.redis_url,
            data_dir=data_dir,
            host=HOST,
            WEB_WORKERS=str(self.web_workers),
        )
        self.cli("migrate", "--verbosity", "0")
        code = fixture_code("soak@example.com", [SITE_DOMAIN])
        made = fixture_from(self.cli("shell", "-c", code))
        self.tracking_id, self.site_pk = made["sites"][SITE_DOMAIN]
        self.session, self.api_key = made["session"], made["key"]

    def start(self) -> None:
        serve = [CLI, "serve", "--no-jobs", "--no-migrate", "--host", HOST]
        for n, port in enumerate(self.ports, 1):
            self.procs.append(Proc(f"web{n}", [*serve, "--port", str(port)], self.env, self.tmp))
        self.procs.append(Proc("worker1", [CLI, "worker"], self.env, self.tmp))
        self.procs.append(Proc("worker2", [CLI, "worker"], self.env, self.tmp))
        self.procs.append(Proc("scheduler", [CLI, "worker", "--scheduler"], self.env, self.tmp))
        for p in self.procs:
            p.start()
        for port in self.ports:
            try:
                wait_http(port, timeout=90)
            except RuntimeError:
                raise SystemExit(f"web server on {port} did not start") from None
        # Every granian worker up.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = sum(
                1 for p in self.procs for r in p.roles().values() if r == "granian-worker"
            )
            if workers >= self.web_workers * len(self.ports):
                break
            time.sleep(0.2)

    def stop(self) -> None:
        for p in self.procs:  # all at once, then wait for each
            p.terminate()
        for p in self.procs:
            p.stop()

    def get(self, port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stats(self, port: int) -> dict[str, Any] | None:
        today = dt.datetime.now(dt.UTC).date()
        q = urllib.parse.urlencode(
            {"site": self.tracking_id, "from": str(today - dt.timedelta(days=1)), "to": str(today)}
        )
        status, body = self.get(
            port, f"/api/v1/stats?{q}", {"Authorization": f"Bearer {self.api_key}"}
        )
        return json.loads(body) if status == 200 else None

    def queue_depth(self) -> int | None:
        try:
            out = json.loads(self.cli("status", "--json", timeout=60))
            q = out["queue"]
            return None if q.get("error") else int(q["pending"]) + int(q["scheduled"])
        except (RuntimeError, ValueError, KeyError, TypeError):
            return None


# --- Load: open loop, round robin over the servers --------------------------------------
async def _load(
    events: list[tuple[str, str, str]],
    ports: list[int],
    rate: float,
    duration: float,
    conns_per_port: int,
    stats: dict[str, Any],
) -> None:
    loop = asyncio.get_running_loop()
    queues: dict[int, asyncio.Queue[tuple[float, bytes, bool] | None]] = {
        port: asyncio.Queue() for port in ports
    }
    lat: array.array[float] = stats["lat"]

    async def connection(port: int) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        q = queues[port]
        while True:
            item = await q.get()
            if item is None:
                break
            scheduled, raw, is_view = item
            for attempt in range(2):
                reused = reader is not None
                try:
                    if reader is None or writer is None:
                        reader, writer = await asyncio.open_connection(HOST, port)
                    writer.write(raw)
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = int(head[9:12])
                    low = head.lower()
                    i = low.find(b"\r\ncontent-length:")
                    n = int(low[i + 17 : low.index(b"\r\n", i + 2)]) if i >= 0 else 0
                    if n:
                        await reader.readexactly(n)
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    # A kept-alive connection the server closed while it was idle: resend
                    # once on a new one, as HTTP clients do (the same id, so never stored
                    # twice), and report how often. Anything else is an error.
                    if reused and attempt == 0 and isinstance(exc, asyncio.IncompleteReadError):
                        stats["resent"] += 1
                        continue
                    status = 0
                    stats["socket_errors"] += 1
                    name = type(exc).__name__
                    stats["errors_detail"][name] = stats["errors_detail"].get(name, 0) + 1
                    break
            else:
                status = 0
            lat.append(loop.time() - scheduled)
            if 200 <= status < 300:
                stats["ok"] += 1
                stats["ok_views"] += is_view
            elif status:
                stats["non2xx"] += 1
                stats["status"][status] = stats["status"].get(status, 0) + 1
        if writer is not None:
            writer.close()

    tasks = [asyncio.create_task(connection(p)) for p in ports for _ in range(conns_per_port)]
    start = loop.time() + 0.5
    n_total = int(rate * duration)
    i = 0
    while i < n_total:
        now = loop.time()
        due = min(n_total, int((now - start) * rate) + 1) if now >= start else 0
        while i < due:
            ua, ip, body = events[i % len(events)]
            # Each event its own client id, as pixel.js sends.
            b = body[:-1].encode() + b',"id":"' + secrets.token_hex(12).encode() + b'"}'
            port = ports[i % len(ports)]
            is_view = any(t in b for t in PAGEVIEW_TYPES)
            queues[port].put_nowait((start + i / rate, post_request(port, ua, ip, b), is_view))
            stats["sent"] += 1
            i += 1
        await asyncio.sleep(0.002)
    for port in ports:
        for _ in range(conns_per_port):
            queues[port].put_nowait(None)
    await asyncio.wait(tasks, timeout=60)
    stats["unanswered"] = sum(q.qsize() for q in queues.values())


def _load_process(
    events_path: str,
    ports: list[int],
    rate: float,
    duration: float,
    conns_per_port: int,
    out: mp.Queue[dict[str, Any]],
) -> None:
    events = read_events(Path(events_path))
    stats: dict[str, Any] = {
        "lat": array.array("d"),
        "ok": 0,
        "ok_views": 0,
        "non2xx": 0,
        "socket_errors": 0,
        "sent": 0,
        "resent": 0,
        "status": {},
        "errors_detail": {},
    }
    asyncio.run(_load(events, ports, rate, duration, conns_per_port, stats))
    lat = stats.pop("lat")
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.put({**stats, "lat": lat.tobytes(), "cpu_s": ru.ru_utime + ru.ru_stime})


# --- Reads and memory, sampled from the main process -------------------------------------
class Reader(threading.Thread):
    """The dashboard page and the stats API from both servers, ``per_s`` a second."""

    def __init__(self, d: Deployment, per_s: float) -> None:
        super().__init__(daemon=True)
        self.d = d
        self.pause_s = 1 / per_s
        self.stop = threading.Event()
        self.results: list[tuple[str, int, float]] = []  # (what, status, seconds)

    def run(self) -> None:
        site = urllib.parse.quote(self.d.tracking_id)
        auth = {"Authorization": f"Bearer {self.d.api_key}"}
        pages = [
            (
                "dashboard today",
                f"/websites/{self.d.site_pk}/?period=today",
                {"Cookie": f"sessionid={self.d.session}"},
            ),
            (
                "dashboard 7d",
                f"/websites/{self.d.site_pk}/?period=7d",
                {"Cookie": f"sessionid={self.d.session}"},
            ),
            ("api stats", f"/api/v1/stats?site={site}&period=today", auth),
            ("api timeseries", f"/api/v1/timeseries?site={site}&period=30d", auth),
            ("api pages", f"/api/v1/breakdown/pages?site={site}&period=7d", auth),
        ]
        n = 0
        while not self.stop.is_set():
            what, path, headers = pages[n % len(pages)]
            port = self.d.ports[n % len(self.d.ports)]
            t0 = time.monotonic()
            try:
                status, _ = self.d.get(port, path, headers)
            except OSError:
                status = 0
            self.results.append((what, status, time.monotonic() - t0))
            n += 1
            self.stop.wait(max(0.0, self.pause_s - (time.monotonic() - t0)))


class MemorySampler(threading.Thread):
    def __init__(self, d: Deployment, every_s: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.d, self.every_s = d, every_s
        self.stop = threading.Event()
        self.samples: dict[str, list[tuple[float, int]]] = {}  # label -> (t, kB)
        self.t0 = time.monotonic()

    def sample(self) -> None:
        t = time.monotonic() - self.t0
        for proc in self.d.procs:
            for pid, role in sorted(proc.roles().items()):
                kb = rss_kb(pid)
                if kb is not None:
                    label = f"{proc.name}/{role}" + (f"#{pid}" if role == "granian-worker" else "")
                    self.samples.setdefault(label, []).append((t, kb))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every_s)


class CpuMeter:
    """CPU used during the run by each part of the deployment, PostgreSQL (this database's
    backends, WAL writer, background writer), the load client and everything else."""

    def __init__(self, d: Deployment) -> None:
        self.d = d
        self.t0 = time.monotonic()
        self.machine0 = machine_cpu()
        self.before = self._read()

    def _groups(self) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {"web": [], "workers": []}
        for p in self.d.procs:
            groups["web" if p.name.startswith("web") else "workers"] += list(p.roles())
        groups["postgres"] = postgres_pids(self.d.db_name)
        return groups

    def _read(self) -> dict[str, dict[int, float]]:
        return {k: proc_cpu(pids) for k, pids in self._groups().items()}

    def cores(self, client_cpu_s: float) -> dict[str, float]:
        """``client_cpu_s``: what the client reported (it may have exited by now)."""
        after = self._read()
        wall = time.monotonic() - self.t0
        used = {k: cpu_delta(self.before.get(k, {}), v) / wall for k, v in after.items()}
        used["client"] = client_cpu_s / wall
        total = (machine_cpu() - self.machine0) / wall
        used["others"] = max(0.0, total - sum(used.values()))
        return {k: round(v, 2) for k, v in used.items()}


# --- Main -------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help=f"events/s (default 70%% of {MEASURED_CAPACITY:,.0f}, docs/PERFORMANCE.md)",
    )
    parser.add_argument(
        "--web-workers",
        type=int,
        default=1,
        help="granian workers per web server instance (2 instances)",
    )
    parser.add_argument("--conns", type=int, default=32, help="connections per server")
    parser.add_argument(
        "--reads", type=float, default=0.5, help="dashboard and stats API reads per second (0.5)"
    )
    parser.add_argument("--db-name", default="sa_soak")
    parser.add_argument("--redis-db", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    rate = args.rate or round(0.7 * MEASURED_CAPACITY)
    duration = args.minutes * 60
    missing = [
        f"{name} ({port})"
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if not reachable(port)
    ]
    if missing:
        print(f"soak needs {', '.join(missing)} on {HOST}")
        return 1

    tmp = Path(tempfile.mkdtemp(prefix="sa-soak-"))
    d = Deployment(
        tmp=tmp,
        db_name=args.db_name,
        redis_url=f"redis://{HOST}:6379/{args.redis_db}",
        ports=[free_port(), free_port()],
        web_workers=args.web_workers,
    )
    problems: list[str] = []
    report: dict[str, Any] = {"minutes": args.minutes, "rate": rate}
    load = None
    try:
        t_setup = time.monotonic()
        d.setup()
        # The stream repeats after 120,000 events (visits continue, ids are new each time).
        n_events = int(min(120_000, max(10_000, rate * duration)))
        events = generate_events(n_events, tracking_id=d.tracking_id, n_ips=20_000, seed=5)
        events_path = tmp / "events.tsv"
        write_events(events_path, events)
        log(describe_traffic(events))
        d.start()
        log(
            f"set up in {time.monotonic() - t_setup:.0f} s: web servers on {d.ports} "
            f"({args.web_workers} granian worker(s) each), 2 workers + 1 scheduler; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        sampler, reader = MemorySampler(d), Reader(d, args.reads)
        sampler.start()
        reader.start()
        out: mp.Queue[dict[str, Any]] = mp.get_context("fork").Queue()
        load = mp.get_context("fork").Process(
            target=_load_process,
            args=(str(events_path), d.ports, rate, duration, args.conns, out),
            daemon=True,
        )
        log(f"{args.minutes:g} minutes at {rate:,.0f} events/s, round robin over 2 servers")
        t_load = time.monotonic()
        load.start()
        cpu = CpuMeter(d)
        result = None
        last_note = 0.0
        exited: set[str] = set()
        while result is None and time.monotonic() - t_load < duration + 120:
            # The client's figures come through the queue (it exits once they are read).
            with contextlib.suppress(queue.Empty):
                result = out.get(timeout=5)
            dead = [p.name for p in d.procs if not p.alive() and p.name not in exited]
            if dead:
                exited.update(dead)
                problems.append(f"processes exited during the run: {dead}")
            elapsed = time.monotonic() - t_load
            if result is None and elapsed - last_note >= 60:
                last_note = elapsed
                log(f"  {elapsed / 60:.0f} min; load average {os.getloadavg()[0]:.1f}")
        if result is None:
            raise SystemExit("the load client gave no result")
        cores = cpu.cores(result["cpu_s"])
        load.join(timeout=10)
        t_end = time.monotonic()
        reader.stop.set()
        reader.join(timeout=40)

        # The queue drains within a minute.
        drained_after = None
        while time.monotonic() - t_end < 60:
            depth = d.queue_depth()
            if depth == 0:
                drained_after = time.monotonic() - t_end
                break
            time.sleep(2)
        sampler.stop.set()
        sampler.join(timeout=10)
        sampler.sample()

        # Stored + dropped == accepted, then the dashboard's totals == accepted page views.
        settle_deadline = time.monotonic() + 30
        while True:
            ((stored,),) = d.query("SELECT count(*) FROM tracking_event")
            drops = dict(
                d.query("SELECT reason, sum(count)::int FROM tracking_dropcount GROUP BY 1")
            )
            if stored + sum(drops.values()) == result["ok"] or time.monotonic() > settle_deadline:
                break
            time.sleep(1)
        consistent_after = None
        shown = None
        while time.monotonic() - t_end < 120:
            stats = d.stats(d.ports[0])
            shown = stats and stats.get("pageviews")
            if shown == result["ok_views"]:
                consistent_after = time.monotonic() - t_end
                break
            time.sleep(2)

        # --- Report ---
        lat = array.array("d")
        lat.frombytes(result["lat"])
        lat_ms = [v * 1000 for v in lat]
        errors = result["non2xx"] + result["socket_errors"] + result["unanswered"]
        achieved = result["ok"] / duration
        report.update(
            {
                "sent": result["sent"],
                "accepted": result["ok"],
                "accepted_pageviews": result["ok_views"],
                "achieved_rate": round(achieved, 1),
                "errors": errors,
                "non2xx": result["status"],
                "socket_errors": result["errors_detail"],
                "unanswered": result["unanswered"],
                "resent_on_closed_keepalive": result["resent"],
                "p50_ms": round(pct(lat_ms, 50), 1),
                "p99_ms": round(pct(lat_ms, 99), 1),
                "max_ms": round(max(lat_ms, default=0), 1),
                "stored": stored,
                "dropped": drops,
                "queue_drained_after_s": drained_after,
                "stats_pageviews": shown,
                "consistent_after_s": consistent_after,
            }
        )
        log(
            f"ingestion: {result['sent']:,} sent, {result['ok']:,} accepted ({achieved:,.0f}/s), "
            f"errors {errors} (non-2xx {result['status'] or 0}, socket {result['errors_detail'] or 0}, "
            f"unanswered {result['unanswered']}); latency p50 {report['p50_ms']} ms, "
            f"p99 {report['p99_ms']} ms, max {report['max_ms']} ms"
        )
        report["cores"] = cores
        log(
            "CPU, cores averaged over the run: "
            + ", ".join(f"{k} {v:.2f}" for k, v in cores.items())
        )
        reads = reader.results
        bad_reads = [(w, s) for w, s, _ in reads if not 200 <= s < 300]
        read_ms = [t * 1000 for _, _, t in reads]
        report["reads"] = {
            "count": len(reads),
            "errors": len(bad_reads),
            "p50_ms": round(pct(read_ms, 50), 1),
            "p99_ms": round(pct(read_ms, 99), 1),
            "max_ms": round(max(read_ms, default=0), 1),
        }
        by_what: dict[str, list[float]] = {}
        for w, _, t in reads:
            by_what.setdefault(w, []).append(t * 1000)
        log(
            f"dashboard reads: {len(reads)}, errors {len(bad_reads)}; latency p50 "
            f"{report['reads']['p50_ms']} ms, p99 {report['reads']['p99_ms']} ms; medians: "
            + ", ".join(f"{w} {statistics.median(v):.0f} ms" for w, v in by_what.items())
        )
        if errors:
            problems.append(f"{errors} ingestion requests not answered 2xx")
        if bad_reads:
            problems.append(f"{len(bad_reads)} reads not answered 2xx: {bad_reads[:5]}")
        if achieved < 0.97 * rate:
            problems.append(f"the client achieved {achieved:,.0f}/s, not the {rate:,.0f}/s asked")
        log(
            f"stored {stored:,} + dropped {sum(drops.values())} {drops or ''} = "
            f"{stored + sum(drops.values()):,}; accepted {result['ok']:,}"
        )
        if stored + sum(drops.values()) != result["ok"]:
            problems.append("stored + dropped != accepted")
        if drained_after is None:
            problems.append("the job queue did not drain within 60 s after the traffic")
        else:
            log(f"job queue drained {drained_after:.0f} s after the traffic stopped")
        if consistent_after is None:
            problems.append(
                f"the stats API shows {shown} page views, not the {result['ok_views']} accepted"
            )
        else:
            log(
                f"stats API page views {shown:,} == accepted page views, "
                f"{consistent_after:.0f} s after the traffic stopped"
            )

        # Memory: start (after a minute's warm-up in longer runs), end, max per process.
        warm = 60.0 if duration >= 300 else 0.0
        mem = {}
        log("RSS per process (MB): start / end / max")
        for label, samples in sorted(sampler.samples.items()):
            after = [kb for t, kb in samples if t >= warm] or [kb for _, kb in samples]
            start_mb, end_mb, max_mb = after[0] / 1024, after[-1] / 1024, max(after) / 1024
            mem[label] = {
                "start": round(start_mb, 1),
                "end": round(end_mb, 1),
                "max": round(max_mb, 1),
                "samples": len(samples),
            }
            grew = end_mb - start_mb
            flat = grew <= max(0.10 * start_mb, 15.0)
            note = "" if flat else ("   GREW" if duration >= 300 else "   (warm-up)")
            log(f"  {label:<34} {start_mb:7.1f} {end_mb:7.1f} {max_mb:7.1f}{note}")
            if duration >= 300 and not flat:
                problems.append(f"memory of {label} grew {start_mb:.0f} -> {end_mb:.0f} MB")
        report["rss_mb"] = mem
        # How long the refresh jobs took (huey logs each run at INFO).
        took = [
            float(line.rsplit(" ", 1)[1].rstrip("s"))
            for p in d.procs
            if not p.name.startswith("web")
            for line in p.log_text().splitlines()
            if "refresh_website" in line and "executed in" in line
        ]
        if took:
            report["refresh_jobs"] = {
                "count": len(took),
                "median_s": statistics.median(took),
                "max_s": max(took),
            }
            log(
                f"refresh jobs: {len(took)}, median {statistics.median(took):.2f} s, "
                f"max {max(took):.2f} s"
            )
        for p in d.procs:
            text = p.log_text()
            if "Traceback" in text:
                log(f"  {p.name} log: {text.count('Traceback')} tracebacks")
    except KeyboardInterrupt:
        problems.append("interrupted")
    finally:
        if load is not None and load.is_alive():
            load.kill()
        d.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
            with contextlib.suppress(Exception):
                import psycopg

                with psycopg.connect(
                    f"host={HOST} port=5432 user=postgres dbname=postgres", autocommit=True
                ) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        else:
            log(f"kept {tmp} (and the database {args.db_name})")
    report["problems"] = problems
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    for problem in problems:
        log(f"FAIL: {problem}")
    log("PASS" if not problems else f"FAIL ({len(problems)} problems)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
