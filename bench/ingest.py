"""Ingestion benchmark: the production server under realistic event traffic.

    .venv/bin/python bench/ingest.py                    # 3 runs x c=16,64 x 30 s, wrk client
    .venv/bin/python bench/ingest.py --quick            # 1 run x 5 s
    .venv/bin/python bench/ingest.py --client python    # the multi-process Python client
    .venv/bin/python bench/ingest.py --profile          # + py-spy on a worker at the top c
    .venv/bin/python bench/ingest.py --unique-agents    # a new 1 KB User-Agent per event
    .venv/bin/python bench/ingest.py --custom-events 0.2  # 20% custom events, 3 props each

What it does, all on 127.0.0.1 and cleaned up when it ends:

1. drops and recreates the PostgreSQL database ``sa_bench`` (``--db-name``) on
   127.0.0.1:5432, flushes Redis db 14 (``--redis-db``), migrates with a temporary
   DATA_DIR, creates a user and a website with the ``simple-analytics`` CLI;
2. starts ``simple-analytics serve --no-jobs`` (``--with-jobs``: with its job consumer and
   scheduler, so refresh jobs and rollups run during the load) (granian with its RSGI front, 2 workers:
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

The parts: ``bench/traffic.py`` (the events), ``bench/ingest_server.py`` (database, Redis,
website, the server), ``bench/ingest_clients.py`` (wrk and the Python client),
``bench/ingest_profile.py`` (``--profile``); CPU and process trees from
``systemtests/harness.py``.

The client stops sending at the end of the duration and lets the requests in flight
finish, so no request is abandoned half-way and the count check is exact.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import revision
from bench.ingest_clients import run_client, wrk_path
from bench.ingest_profile import profile
from bench.ingest_server import (
    Env,
    Server,
    check_agents,
    drop_reasons,
    pg_admin,
    redis_flush,
    settled_counts,
    setup_app,
)
from bench.traffic import describe_traffic, generate_events, with_unique_agents, write_events
from systemtests.harness import (
    HOST,
    children_cpu,
    cpu_delta,
    free_port,
    machine_cpu,
    postgres_pids,
    proc_cpu,
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
        if self.stored is None or self.dropped is None:
            return None
        return self.stored + self.dropped == self.ok


def one_run(
    env: Env,
    server: Server,
    args: argparse.Namespace,
    data: Path,
    endpoint: str,
    conns: int,
    rep: int,
    duration: float,
    quiet_s: float = 1.5,
) -> Run:
    if endpoint == "ingest":
        before = settled_counts(env, quiet_s=quiet_s, limit_s=quiet_s + 30)
    else:
        before = None
        if quiet_s > 2:  # requests of the previous run may still hold the server's threads
            time.sleep(quiet_s)
    server_pids, pg_pids = server.pids(), postgres_pids(env.db_name)
    s0, g0, c0, b0 = proc_cpu(server_pids), proc_cpu(pg_pids), children_cpu(), machine_cpu()
    wall0 = time.monotonic()
    r = run_client(
        args.client,
        env.port,
        endpoint,
        data,
        conns=conns,
        duration=duration,
        threads=args.threads,
        procs=args.procs,
        start=env.cursor,
    )
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
        endpoint=endpoint,
        concurrency=conns,
        rep=rep,
        client=args.client,
        rate=r.ok / max(r.active_s, 1e-9),
        p50_ms=r.p50_ms,
        p99_ms=r.p99_ms,
        max_ms=r.max_ms,
        requests=r.requests,
        ok=r.ok,
        non2xx=r.non2xx,
        socket_errors=r.socket_errors,
        in_flight_lost=max(0, r.sent - r.requests - r.socket_errors),
        socket_detail=r.socket_detail,
        server_cores=server_s / wall * scale,
        postgres_cores=pg_s / wall * scale,
        client_cores=client_s / wall * scale,
        # Other people's processes, averaged over the whole client run (not scaled).
        other_cores=max(0.0, (b1 - b0 - server_s - pg_s - client_s) / wall),
    )
    if before is not None:
        after = settled_counts(env)
        run.stored, run.dropped = after[0] - before[0], after[1] - before[1]
    return run


def fmt_run(r: Run) -> str:
    check = {None: "-", True: "ok", False: "MISMATCH"}[r.balanced]
    stored = "-"
    if r.stored is not None and r.dropped is not None:
        stored = f"{r.stored}+{r.dropped}={r.stored + r.dropped}"
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
                check = f"{'yes' if ok else 'NO'} ({acc} accepted, {sum(r.dropped or 0 for r in rs)} dropped)"
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
                if n.endpoint == "noop"
                and i.endpoint == "ingest"
                and n.concurrency == i.concurrency == c
                and n.rep == i.rep
            ]
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
    ap.add_argument(
        "--pg",
        default=f"postgres://postgres@{HOST}:5432/postgres",
        help="maintenance database used to create/drop the bench database",
    )
    ap.add_argument("--db-name", default="sa_bench")
    ap.add_argument("--redis-db", type=int, default=14)
    ap.add_argument(
        "--with-jobs",
        action="store_true",
        help="serve with its job consumer and scheduler (refresh jobs, rollups)",
    )
    ap.add_argument(
        "--unique-agents",
        action="store_true",
        help="give every event its own 1 KB User-Agent (a browser's + a random word)",
    )
    ap.add_argument(
        "--custom-events",
        type=float,
        default=0.0,
        help="this share of the events are custom events with three properties (e.g. 0.2)",
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
        pg_dsn=args.pg,
        db_name=args.db_name,
        redis_url=f"redis://{HOST}:6379/{args.redis_db}",
        data_dir=data_dir,
        port=free_port(),
    )
    server = Server(env, data_dir, jobs=args.with_jobs)

    def on_signal(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    runs: list[Run] = []
    try:
        t = time.monotonic()
        setup_app(env)
        agents = check_agents(env)
        devices = Counter(a["device"] for a in agents)
        print(
            f"setup: database {env.db_name}, redis db {args.redis_db}, DATA_DIR {data_dir}, "
            f"site {env.tracking_id} ({time.monotonic() - t:.1f} s)"
        )
        print(f"user agents: {len(agents)} ({dict(devices)}), none classified as a bot")
        print(f"app revision: {revision()}")
        events = generate_events(
            args.events,
            tracking_id=env.tracking_id,
            n_ips=args.ips,
            seed=args.seed,
            open_sessions=args.open_sessions,
            custom=args.custom_events,
        )
        if args.unique_agents:
            events = with_unique_agents(events, seed=args.seed)
        data = data_dir / "events.tsv"
        write_events(data, events)
        print("traffic:", describe_traffic(events))
        server.start()
        print(
            f"server: simple-analytics serve {'' if args.with_jobs else '--no-jobs '}on {HOST}:{env.port}, "
            f"granian workers {server.workers()}"
        )
        print(
            f"client: {args.client}"
            + (
                f" ({args.threads} thread(s))"
                if args.client == "wrk"
                else f" ({args.procs} processes)"
            )
        )
        quiet = 1.5
        if args.warmup > 0:
            print(f"\nwarm-up ({args.warmup:g} s, not in the figures):")
            for ep in endpoints:
                run = one_run(
                    env, server, args, data, ep, max(args.concurrency), 0, args.warmup, quiet
                )
                print(fmt_run(run), flush=True)
                quiet = 35.0 if run.in_flight_lost else 1.5
        print(
            f"\n{args.runs} run(s) x {args.duration:g} s at c={args.concurrency} "
            "(err = non-2xx + socket errors + never answered):"
        )
        for rep in range(1, args.runs + 1):
            for c in args.concurrency:
                for ep in endpoints:
                    run = one_run(env, server, args, data, ep, c, rep, args.duration, quiet)
                    runs.append(run)
                    # Requests the client gave up on may still be stored later: let the
                    # server finish them (the app gives up after 30 s) before counting again.
                    quiet = 35.0 if run.in_flight_lost else 1.5
                    print(fmt_run(run), flush=True)
                    if not server.alive():
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
                    {
                        "revision": revision(),
                        "args": {
                            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                        },
                        "runs": [asdict(r) | {"balanced": r.balanced} for r in runs],
                    },
                    indent=1,
                )
            )
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
