"""Ingestion with a big event store against an empty database (issue 17, item 4).

    .venv/bin/python bench/ingest_stored.py --template sa_bench_query_big_imported

The traffic, server and measurement of ``bench/ingest.py`` (its ``one_run``, ``Env``,
``Server`` and wrk client, reused unchanged) against ``simple-analytics serve --no-jobs``
on two databases, in alternating rounds a, b, a, b (``--rounds`` pairs):

a. ``sa_bench_query_ingest_empty``: dropped, created and migrated before every round
   (``setup_app``), so each a round starts from zero events;
b. ``sa_bench_query_ingest_stored``: one clone of ``--template`` (``CREATE DATABASE ...
   TEMPLATE``, e.g. the database ``bench/query.py`` keeps right after its import), its
   website's tracking id used by the traffic; the b rounds share it, so the second one
   also holds the first one's events (a few hundred thousand next to millions).

Every round restarts the server and flushes Redis db 4 (``--redis-db``), sends
``--warmup`` seconds of traffic (not counted), then ``--duration`` seconds at
``--concurrency``; it reports accepted events/s, p50/p99 and checks that the events stored
plus those counted as dropped equal the accepted ones. The databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import revision
from bench.ingest import Run, fmt_run, one_run
from bench.ingest_clients import wrk_path
from bench.ingest_server import (
    Env,
    Server,
    check_agents,
    pg_admin,
    pg_query,
    redis_flush,
    setup_app,
)
from bench.traffic import generate_events, write_events
from systemtests.harness import HOST, free_port, server_env

EMPTY, STORED = "sa_bench_query_ingest_empty", "sa_bench_query_ingest_stored"


def traffic_file(env: Env, args: argparse.Namespace, files: dict[str, Path]) -> Path:
    """The same generated traffic for every database, addressed to its website."""
    if env.tracking_id not in files:
        events = generate_events(
            args.events, tracking_id=env.tracking_id, n_ips=args.ips, seed=args.seed
        )
        path = env.data_dir / f"events-{env.tracking_id}.tsv"
        write_events(path, events)
        files[env.tracking_id] = path
    return files[env.tracking_id]


def clone_stored(env: Env, template: str) -> float:
    pg_admin(env, f'DROP DATABASE IF EXISTS "{env.db_name}" WITH (FORCE)')
    t0 = time.monotonic()
    pg_admin(env, f'CREATE DATABASE "{env.db_name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    took = time.monotonic() - t0
    env.env = server_env(
        database_url=env.database_url,
        redis_url=env.redis_url,
        data_dir=env.data_dir,
        # The layout of bench/ingest.py (setup_app), so a and b run the same server.
        WEB_WORKERS=os.environ.get("WEB_WORKERS", "2"),
    )
    rows = pg_query(env, "SELECT tracking_id FROM websites_website ORDER BY id")
    if len(rows) != 1:
        raise SystemExit(f"{template}: expected one website, found {len(rows)}")
    env.tracking_id = rows[0][0]
    return took


def stored_events(env: Env) -> int:
    # The planner's estimate: an exact count(*) of a big table takes seconds.
    rows = pg_query(env, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'tracking_event'")
    if rows[0][0] < 0:  # never analysed: small enough to count
        rows = pg_query(env, "SELECT count(*) FROM tracking_event")
    return int(rows[0][0])


def one_round(
    env: Env, args: argparse.Namespace, files: dict[str, Path], label: str, rep: int
) -> Run:
    redis_flush(env.redis_url)
    data = traffic_file(env, args, files)
    env.cursor = 0
    server = Server(env, env.data_dir / label)
    (env.data_dir / label).mkdir(exist_ok=True)
    server.start()
    try:
        top = args.concurrency
        one_run(env, server, args, data, "ingest", top, 0, args.warmup)
        run = one_run(env, server, args, data, "ingest", top, rep, args.duration)
        if not server.alive():
            raise SystemExit(f"the server died:\n{server.log_tail()}")
    finally:
        server.stop()
    run.endpoint = label
    return run


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--template", required=True, help="the big database to clone")
    ap.add_argument("--rounds", type=int, default=2, help="a, b pairs (default 2)")
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--events", type=int, default=60_000, help="pre-generated events to cycle")
    ap.add_argument("--ips", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--redis-db", type=int, default=4)
    ap.add_argument("--keep", action="store_true", help="keep the two databases")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    # one_run reads the client settings of bench/ingest.py's arguments.
    args.client, args.threads, args.procs = "wrk", 1, 2
    wrk_path()
    data_dir = Path(tempfile.mkdtemp(prefix="sa-ingest-stored-"))
    pg_dsn = f"postgres://postgres@{HOST}:5432/postgres"
    redis_url = f"redis://{HOST}:6379/{args.redis_db}"
    empty = Env(pg_dsn, EMPTY, redis_url, data_dir, free_port())
    stored = Env(pg_dsn, STORED, redis_url, data_dir, free_port())
    files: dict[str, Path] = {}
    runs: list[Run] = []
    print(f"app revision: {revision()}; Redis db {args.redis_db}; DATA_DIR {data_dir}")
    try:
        took = clone_stored(stored, args.template)
        size = pg_query(stored, "SELECT pg_database_size(current_database())")[0][0]
        print(
            f"b: {STORED} cloned from {args.template} in {took:.1f} s: ~{stored_events(stored):,} "
            f"events, {size / 2**30:.2f} GiB"
        )
        for rep in range(1, args.rounds + 1):
            t0 = time.monotonic()
            setup_app(empty)
            if rep == 1:
                check_agents(empty)
            print(f"a: {EMPTY} created and migrated in {time.monotonic() - t0:.1f} s")
            for label, env in (("empty", empty), ("stored", stored)):
                run = one_round(env, args, files, label, rep)
                runs.append(run)
                print(fmt_run(run), flush=True)
        med = statistics.median
        rate = {k: med(r.rate for r in runs if r.endpoint == k) for k in ("empty", "stored")}
        p99 = {k: med(r.p99_ms for r in runs if r.endpoint == k) for k in ("empty", "stored")}
        balanced = all(r.balanced for r in runs)
        ratio = rate["stored"] / rate["empty"]
        print(
            f"\nc={args.concurrency}, {args.duration:g} s x {args.rounds} per database, medians:"
            f"\n  empty:  {rate['empty']:,.0f} events/s, p99 {p99['empty']:.1f} ms"
            f"\n  stored: {rate['stored']:,.0f} events/s, p99 {p99['stored']:.1f} ms "
            f"(~{stored_events(stored):,} events stored)"
            f"\n  stored / empty: {ratio:.0%} (goal >= 90%: {'met' if ratio >= 0.9 else 'NOT met'})"
            f"\n  stored + dropped == accepted in every round: {'yes' if balanced else 'NO'}"
        )
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "revision": revision(),
                        "template": args.template,
                        "runs": [asdict(r) | {"balanced": r.balanced} for r in runs],
                        "rate": rate,
                        "p99_ms": p99,
                        "ratio": ratio,
                    },
                    indent=1,
                )
            )
        return 0 if balanced else 1
    finally:
        if not args.keep:
            for env in (empty, stored):
                with contextlib.suppress(Exception):
                    pg_admin(env, f'DROP DATABASE IF EXISTS "{env.db_name}" WITH (FORCE)')
            with contextlib.suppress(Exception):
                redis_flush(redis_url)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
