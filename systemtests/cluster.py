"""Multi-host test: the documented scale-out layout as separate hosts, with failures.

    .venv/bin/python systemtests/cluster.py                 # about two minutes, as root
    .venv/bin/python systemtests/cluster.py --seconds 120 --rate 200

Each host is a network namespace (``ip netns``) on one bridge, ``10.231.42.0/24``:

    the database host (the root namespace, 10.231.42.1): a PostgreSQL primary of its own
        (``systemtests.harness.PrivatePostgres``, removed at the end), a streaming replica of it
        (``pg_basebackup``) that the web hosts read dashboards and the API from
        (``DATABASE_REPLICA_URL``), and Redis, on the bridge address;
    pool (.20): PgBouncer in transaction mode before PostgreSQL, discarding every
        statement after each transaction; the web hosts run with
        ``DATABASE_PREPARED_STATEMENTS=False``;
    web1, web2 (.11, .12): ``simple-analytics serve --no-jobs``, through PgBouncer;
    lb (.10): HAProxy before the two web hosts, health checks on ``/healthz``, retrying a
        request that could not connect on the other host;
    worker1 (.31, with the scheduler) and worker2 (.32): ``simple-analytics worker``.

Steady traffic from the root namespace goes to the balancer: page views, each with its
own path and client id (the id pixel.js sends, so a retry is stored once). A client retries
an event on a 502/503/504 or a broken connection, as pixel.js retries a beacon. Under that
traffic, web1 is killed (SIGKILL) and started again, the scheduler's worker is killed and
another started on worker2, and PgBouncer is restarted.

Checked at the end: every event was answered 202; every event is stored exactly once
(stored == sent, no path twice, no path missing); the drops are only the retries of events
already stored (a retry after an answer lost with its host), so stored + dropped ==
accepted answers + the answers lost after their commit; the dashboard's numbers (snapshots, refresh jobs) equal
raw data; the stats API through the balancer shows every page view, read on the replica;
the replica's lag is reported. Exit status 0 when
every check passes. Needs root, iproute2, haproxy, pgbouncer, redis-server and Debian's
postgresql-common; ``make test-cluster``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from systemtests.harness import (
    CLI,
    PG_BIN,
    PrivatePostgres,
    Proc,
    cli,
    fixture_code,
    fixture_from,
    free_port,
    pgbouncer_config,
    server_env,
    wait_http,
    wait_port,
)

NET = "10.231.42"
GATEWAY = f"{NET}.1"
HOSTS = {"lb": 10, "web1": 11, "web2": 12, "pool": 20, "worker1": 31, "worker2": 32}
BRIDGE = "sa-cl-br"
LB_PORT, WEB_PORT, POOL_PORT = 8080, 8000, 6432
DOMAIN = "cluster.example"
DB_NAME = "sa_cluster"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
RETRY_STATUSES = {502, 503, 504}
# Visitors' addresses, on the root namespace's side of the bridge: the balancer forwards
# each in X-Forwarded-For, so rate limits and visitor counting see many clients.
CLIENTS = [f"{NET}.{n}" for n in range(100, 200)]


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def ns(name: str) -> str:
    return f"sa-cl-{name}"


def ip_of(name: str) -> str:
    return f"{NET}.{HOSTS[name]}"


# --- The hosts: namespaces on one bridge --------------------------------------------------
def network_down() -> None:
    for name in HOSTS:
        run("ip", "netns", "del", ns(name), check=False)
    run("ip", "link", "del", BRIDGE, check=False)


def network_up() -> None:
    network_down()
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    run("ip", "link", "set", BRIDGE, "up")
    for address in CLIENTS:
        run("ip", "addr", "add", f"{address}/24", "dev", BRIDGE)
    for name in HOSTS:
        host_side = f"sacl-{name}"[:15]
        run("ip", "netns", "add", ns(name))
        run(
            "ip",
            "link",
            "add",
            host_side,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns(name),
        )
        run("ip", "link", "set", host_side, "master", BRIDGE)
        run("ip", "link", "set", host_side, "up")
        inside = ("ip", "netns", "exec", ns(name), "ip")
        run(*inside, "addr", "add", f"{ip_of(name)}/24", "dev", "eth0")
        run(*inside, "link", "set", "eth0", "up")
        run(*inside, "link", "set", "lo", "up")


def in_ns(name: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns(name), *argv]


# --- The deployment -----------------------------------------------------------------------
@dataclass
class Cluster:
    tmp: Path
    primary: PrivatePostgres | None = None
    replica: PrivatePostgres | None = None
    pg_port: int = 0
    replica_port: int = 0
    redis_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    direct: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    tracking_id: str = ""
    api_key: str = ""
    pool_dir: Path = field(default_factory=Path)

    def database(self) -> None:
        """The primary, then a streaming replica made from it with ``pg_basebackup``."""
        self.pg_port, self.replica_port = free_port(), free_port()
        self.primary = PrivatePostgres(self.tmp, self.pg_port, name="primary")
        self.replica = PrivatePostgres(self.tmp, self.replica_port, name="replica")
        self.primary.init(
            listen=f"127.0.0.1,{GATEWAY}",
            extra_conf="max_connections = 200\n",
            hba=f"host all all {NET}.0/24 trust\n",
        )
        self.primary.start()
        self.psql(f'CREATE DATABASE "{DB_NAME}"', db="postgres")
        self.replica.replica_of(self.primary)
        self.replica.start()

    def psql(self, sql: str, db: str = DB_NAME, port: int = 0) -> str:
        return run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port or self.pg_port),
            "-U",
            "postgres",
            "-d",
            db,
            "-At",
            "-c",
            sql,
        ).stdout.strip()

    def start_redis(self) -> None:
        self.redis_port = free_port()
        self.procs["redis"] = Proc(
            "redis",
            [
                "redis-server",
                "--bind",
                GATEWAY,
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            dict(os.environ),
            self.tmp,
        )
        self.procs["redis"].start()

    def start_pool(self) -> None:
        if not self.pool_dir.name:
            # pgbouncer refuses root and runs as postgres: a directory it can read.
            self.pool_dir = Path(tempfile.mkdtemp(prefix="sa-cluster-pool-"))
            self.pool_dir.chmod(0o777)
            pgbouncer_config(
                self.pool_dir,
                databases={DB_NAME: f"host={GATEWAY} port={self.pg_port} dbname={DB_NAME}"},
                listen=ip_of("pool"),
                port=POOL_PORT,
                pool_size=20,
                clients=400,
            )
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        argv = ["runuser", "-u", "postgres", "--", binary, str(self.pool_dir / "pgbouncer.ini")]
        self.procs["pool"] = Proc("pool", in_ns("pool", argv), dict(os.environ), self.tmp)
        self.procs["pool"].start()
        wait_port(POOL_PORT, ip_of("pool"))

    def setup(self) -> None:
        self.database()
        self.start_redis()
        data = self.tmp / "data"
        data.mkdir()
        allowed = ",".join([ip_of("lb"), ip_of("web1"), ip_of("web2"), "127.0.0.1", "localhost"])
        self.direct = server_env(
            database_url=f"postgres://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}",
            redis_url=f"redis://{GATEWAY}:{self.redis_port}/0",
            data_dir=data,
            ALLOWED_HOSTS=allowed,
        )
        cli(self.direct, "migrate", "--verbosity", "0")
        made = fixture_from(
            cli(self.direct, "shell", "-c", fixture_code("c@example.com", [DOMAIN])).stdout
        )
        self.tracking_id = made["sites"][DOMAIN][0]
        self.api_key = made["key"]
        self.start_pool()
        self.env = {
            **self.direct,
            "DATABASE_URL": f"postgres://postgres@{ip_of('pool')}:{POOL_PORT}/{DB_NAME}",
            "DATABASE_PREPARED_STATEMENTS": "False",
            "DATABASE_REPLICA_URL": f"postgres://postgres@{GATEWAY}:{self.replica_port}/{DB_NAME}",
            "TRUSTED_PROXIES": f"{ip_of('lb')}/32",
            "REFRESH_DEBOUNCE_SECONDS": "3",
            "WEB_WORKERS": "1",
            "WEB_THREADS": "16",
        }

    def start_web(self, name: str) -> None:
        argv = [
            CLI,
            "serve",
            "--no-jobs",
            "--no-migrate",
            "--host",
            ip_of(name),
            "--port",
            str(WEB_PORT),
        ]
        self.procs[name] = Proc(name, in_ns(name, argv), self.env, self.tmp)
        self.procs[name].start()

    def start_worker(self, name: str, host: str, *, scheduler: bool) -> None:
        argv = [CLI, "worker", *(["--scheduler"] if scheduler else [])]
        self.procs[name] = Proc(name, in_ns(host, argv), self.env, self.tmp)
        self.procs[name].start()

    def start_lb(self) -> None:
        cfg = self.tmp / "haproxy.cfg"
        servers = "\n".join(
            f"    server {w} {ip_of(w)}:{WEB_PORT} check inter 500 fall 2 rise 2"
            for w in ("web1", "web2")
        )
        cfg.write_text(
            "global\n    maxconn 2000\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n"
            "    timeout server 30s\n    retries 3\n    option redispatch 1\n"
            "    retry-on conn-failure empty-response response-timeout\n"
            f"frontend web\n    bind {ip_of('lb')}:{LB_PORT}\n    default_backend app\n"
            "backend app\n    balance roundrobin\n    option forwardfor\n"
            f"    option httpchk\n    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host {ip_of('lb')}\n"
            f"{servers}\n"
        )
        run("haproxy", "-c", "-f", str(cfg))
        self.procs["lb"] = Proc(
            "lb", in_ns("lb", ["haproxy", "-db", "-f", str(cfg)]), dict(os.environ), self.tmp
        )
        self.procs["lb"].start()

    def start(self) -> None:
        for web in ("web1", "web2"):
            self.start_web(web)
        self.start_worker("worker1", "worker1", scheduler=True)
        self.start_worker("worker2", "worker2", scheduler=False)
        self.start_lb()
        for web in ("web1", "web2"):
            lb_http(ip_of(web), WEB_PORT)
        lb_http(ip_of("lb"), LB_PORT)

    def stop(self) -> None:
        for p in self.procs.values():
            p.terminate()
        for p in self.procs.values():
            p.stop(timeout=20)
        if self.pool_dir.name:
            shutil.rmtree(self.pool_dir, ignore_errors=True)
        for pg in (self.replica, self.primary):
            if pg is not None and pg.running():
                pg.stop()


def lb_http(host: str, port: int) -> None:
    # The web hosts allow the balancer's address as Host, as they do behind it.
    wait_http(port, host=host, headers={"Host": ip_of("lb")}, timeout=90)


# --- Traffic ------------------------------------------------------------------------------
@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    accepted: int = 0  # 202 answers, retries included
    retries: int = 0
    failed: list[str] = field(default_factory=list)  # events never answered 202
    errors: Counter[str] = field(default_factory=Counter)
    by_second: Counter[int] = field(default_factory=Counter)


def send(n: int, body: bytes, ua: str, source: str, tally: Tally, started: float) -> None:
    for attempt in range(60):
        status, why = 0, ""
        try:
            conn = http.client.HTTPConnection(
                ip_of("lb"), LB_PORT, timeout=15, source_address=(source, 0)
            )
            conn.request(
                "POST",
                "/api/event",
                body=body,
                headers={
                    "Host": ip_of("lb"),
                    "Content-Type": "text/plain;charset=UTF-8",
                    "Origin": f"https://{DOMAIN}",
                    "User-Agent": ua,
                },
            )
            status = conn.getresponse().status
            conn.close()
        except (OSError, http.client.HTTPException) as exc:
            why = type(exc).__name__
        with tally.lock:
            if status == 202:
                tally.accepted += 1
                tally.by_second[int(time.monotonic() - started)] += 1
                return
            tally.errors[why or str(status)] += 1
            if status and status not in RETRY_STATUSES:
                tally.failed.append(f"event {n}: {status}")
                return
            tally.retries += 1
        time.sleep(min(0.1 * (attempt + 1), 1.0))
    with tally.lock:
        tally.failed.append(f"event {n}: no 202 after 60 tries")


def traffic(
    cluster: Cluster, rate: float, seconds: float, tally: Tally, stop: threading.Event
) -> None:
    """An open loop of ``rate`` page views a second over client threads; three page views
    per visitor, each visitor its address (of ``CLIENTS``) and User-Agent."""
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=48) as pool:
        n = 0
        while not stop.is_set() and time.monotonic() - started < seconds:
            due = int((time.monotonic() - started) * rate)
            while n < due:
                visitor = n // 3
                body = json.dumps(
                    {
                        "site": cluster.tracking_id,
                        "type": "PAGE_VIEW",
                        "url": f"https://{DOMAIN}/c/{n}",
                        "id": secrets.token_hex(12),
                    }
                ).encode()
                ua, source = f"{CHROME} SaCluster/{visitor}", CLIENTS[visitor % len(CLIENTS)]
                pool.submit(send, n, body, ua, source, tally, started)
                with tally.lock:
                    tally.sent += 1
                n += 1
            time.sleep(0.005)


# --- The run ------------------------------------------------------------------------------
def scenario(cluster: Cluster, seconds: float) -> list[str]:
    """The failures, spread over the traffic; returns what happened when."""
    events: list[str] = []
    step = seconds / 6

    def at(k: float) -> None:
        time.sleep(max(0.0, t0 + k * step - time.monotonic()))

    t0 = time.monotonic()
    at(1)
    cluster.procs["web1"].kill()
    events.append(f"{time.monotonic() - t0:.0f} s: web1 killed (SIGKILL)")
    at(2)
    cluster.start_web("web1")
    lb_http(ip_of("web1"), WEB_PORT)
    events.append(f"{time.monotonic() - t0:.0f} s: web1 back")
    at(3)
    cluster.procs["worker1"].kill()
    cluster.start_worker("scheduler2", "worker2", scheduler=True)
    events.append(
        f"{time.monotonic() - t0:.0f} s: the scheduler's worker killed, another on worker2"
    )
    at(4)
    cluster.procs["pool"].signal(signal.SIGTERM)  # PgBouncer's immediate shutdown
    if cluster.procs["pool"].wait(10) is None:
        cluster.procs["pool"].kill()
    cluster.start_pool()
    events.append(f"{time.monotonic() - t0:.0f} s: PgBouncer restarted")
    return events


def api_stats(cluster: Cluster) -> dict[str, Any]:
    conn = http.client.HTTPConnection(ip_of("lb"), LB_PORT, timeout=30)
    conn.request(
        "GET",
        f"/api/v1/stats?site={cluster.tracking_id}&period=7d",
        headers={"Host": ip_of("lb"), "Authorization": f"Bearer {cluster.api_key}"},
    )
    resp = conn.getresponse()
    data: dict[str, Any] = json.loads(resp.read())
    return data


EQUAL_RAW = """
import json
from stats import planner, queries
from stats.periods import from_query
from websites.models import Website
w = Website.objects.get(tracking_id={tid!r})
out = {{}}
for key in ("today", "7d", "30d"):
    p = from_query({{"period": key}}, w.tz)
    got = (queries.summary(w, p), queries.breakdown(w, p, "pages", limit=None))
    with planner.raw_only():
        raw = (queries.summary(w, p), queries.breakdown(w, p, "pages", limit=None))
    out[key] = got == raw
print(json.dumps(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=120, help="page views a second")
    args = ap.parse_args()
    tools = ("ip", "haproxy", "redis-server", str(PG_BIN / "pg_basebackup"), "pgbouncer")
    missing = [t for t in tools if not (shutil.which(t) or Path("/usr/sbin", t).exists())]
    if os.geteuid() != 0:
        missing.insert(0, "root (network namespaces)")
    if missing:
        required = os.environ.get("CI") == "true"
        print(f"{'FAIL' if required else 'SKIP'}: needs {', '.join(missing)}", file=sys.stderr)
        return 1 if required else 0
    tmp = Path(tempfile.mkdtemp(prefix="sa-cluster-"))
    tmp.chmod(0o711)  # the postgres user must reach its clusters' directories inside
    cluster = Cluster(tmp)
    failures: list[str] = []
    try:
        network_up()
        log("network: 6 hosts on one bridge")
        cluster.setup()
        cluster.start()
        log("cluster up: lb, web1, web2, pool, worker1 (scheduler), worker2")
        tally, stop = Tally(), threading.Event()
        load = threading.Thread(
            target=traffic, args=(cluster, args.rate, args.seconds, tally, stop)
        )
        load.start()
        happened = scenario(cluster, args.seconds)
        load.join()
        for line in happened:
            log(line)
        log(
            f"traffic: {tally.sent:,} events sent, {tally.accepted:,} answered 202, "
            f"{tally.retries:,} retries ({dict(tally.errors)})"
        )
        lb_log = (tmp / "lb.log").read_text(errors="replace")
        log(
            f"balancer: a web host marked down {lb_log.count('is DOWN') - 2} times after the"
            f" start, up again {lb_log.count('is UP') - 2} times"
        )
        seconds_without = [s for s in range(int(args.seconds)) if tally.by_second[s] == 0]
        log(f"seconds without an accepted event: {seconds_without or 'none'}")

        # Refresh jobs of the last events (debounce 3 s), then every check.
        time.sleep(8)
        tid = cluster.tracking_id
        stored = int(
            cluster.psql(
                "SELECT count(*) FROM tracking_event e JOIN websites_website w ON w.id = e.website_id "
                f"WHERE w.tracking_id = '{tid}'"
            )
        )
        twice = int(
            cluster.psql(
                "SELECT count(*) FROM (SELECT path FROM tracking_event GROUP BY path HAVING count(*) > 1) d"
            )
        )
        drops = dict(
            line.split("|")
            for line in cluster.psql(
                "SELECT reason, sum(count) FROM tracking_dropcount GROUP BY reason"
            ).splitlines()
            if line
        )
        dropped = sum(int(v) for v in drops.values())
        duplicates = int(drops.get("duplicate", 0))
        log(f"stored {stored:,}, dropped {dropped:,} {drops or ''}, paths stored twice {twice}")
        if tally.failed:
            failures.append(f"{len(tally.failed)} events never accepted: {tally.failed[:5]}")
        if stored != tally.sent or twice:
            failures.append(f"stored {stored} events for {tally.sent} sent ({twice} twice)")
        if set(drops) - {"duplicate"}:
            failures.append(f"drops other than retried duplicates: {drops}")
        # Each committed request is stored or dropped; the ones whose answer was lost with
        # a host (then retried: a duplicate) are the only difference from the 202s received.
        lost = stored + dropped - tally.accepted
        log(f"stored + dropped = accepted + {lost} answers lost after their commit")
        if not 0 <= lost <= min(duplicates, tally.retries):
            failures.append(f"stored + dropped = {stored + dropped}, accepted {tally.accepted}")
        equal = json.loads(
            cli(cluster.direct, "shell", "-c", EQUAL_RAW.format(tid=tid)).stdout.splitlines()[-1]
        )
        log(f"snapshots equal raw data: {equal}")
        if not all(equal.values()):
            failures.append(f"snapshot answers differ from raw: {equal}")
        reads = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        before = int(cluster.psql(reads, port=cluster.replica_port))
        api = api_stats(cluster)
        time.sleep(0.6)  # statistics reach pg_stat_database within half a second
        served = int(cluster.psql(reads, port=cluster.replica_port)) - before
        log(f"the replica served the API's reads: {served} transactions")
        if served <= 0:
            failures.append("the stats API did not read the replica")
        behind = cluster.psql(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), "
            "coalesce(extract(epoch FROM replay_lag) * 1000, 0) FROM pg_stat_replication"
        )
        log(f"replica lag at the end (bytes, ms): {behind or 'no replica connected'}")
        if not behind:
            failures.append("the replica is not streaming")
        log(f"stats API through the balancer (7 days): {api.get('pageviews')} page views")
        if api.get("pageviews") != tally.sent:
            failures.append(f"the API shows {api.get('pageviews')} page views, {tally.sent} sent")
    except Exception as exc:
        failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        cluster.stop()
        network_down()
    if failures:
        for name in ("web1", "web2", "worker1", "worker2", "scheduler2", "lb", "pool"):
            text = (
                (tmp / f"{name}.log").read_text(errors="replace")
                if (tmp / f"{name}.log").exists()
                else ""
            )
            print(f"--- {name}.log (end) ---\n{text[-2000:]}", file=sys.stderr)
        for failure in failures:
            print(f"FAIL {failure}", file=sys.stderr)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    log("PASS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
