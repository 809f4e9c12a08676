"""WAL and storage per stored event, on a PostgreSQL cluster of its own (docs/SCALING.md).

    .venv/bin/python bench/wal.py                       # 50,000 events, batches of 50 and 5,000
    .venv/bin/python bench/wal.py --events 200000 --batches 20,50,5000

WAL is counted for the whole cluster (``pg_current_wal_lsn``), so it runs on a throwaway
cluster (``systemtests.harness.PrivatePostgres``, durable settings, removed at the end)
where nothing else writes. The events (core.synthetic, one week) go in
through ``import-events``, the writer live ingestion uses; ``--chunk-size`` sets how many
share a transaction, as a group commit does (tens at a time under load). Each batch size
starts from empty tables after a ``CHECKPOINT``, so the first change of every page writes a
full-page image, as after each checkpoint in production. Also the bytes of the raw tables
and their indexes per event, and the rollup's WAL for the days imported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from core.synthetic import generate
from systemtests.harness import (
    PrivatePostgres,
    cli,
    fixture_code,
    fixture_from,
    free_port,
    server_env,
)

TABLES = ("tracking_event", "tracking_session")


def lsn(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    row = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    assert row is not None
    return str(row[0])


def wal_since(conn: psycopg.Connection[tuple[object, ...]], start: str) -> int:
    row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", [start]).fetchone()
    assert row is not None
    return int(str(row[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batches", default="50,5000", help="events per transaction")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sa-wal-"))
    root.chmod(0o711)  # the postgres user must reach its directory inside
    pg = PrivatePostgres(root, free_port(), durable=True)
    try:
        pg.init()
        pg.start()
        run(args, pg)
    finally:
        if pg.running():
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, pg: PrivatePostgres) -> None:
    url = pg.url("postgres")
    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(database_url=url, redis_url="", data_dir=Path(tmp))
        cli(env, "migrate", "--verbosity", "0")
        made = fixture_from(
            cli(env, "shell", "-c", fixture_code("w@example.com", ["example.com"])).stdout
        )
        site = made["sites"]["example.com"][0]
        end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
        events = Path(tmp) / "events.ndjson"
        with events.open("w") as f:
            for event in generate(site=site, events=args.events, days=7, end=end):
                f.write(json.dumps(event, separators=(",", ":")) + "\n")
        lines = sum(1 for _ in events.open())
        print(f"{lines:,} events over 7 days, PostgreSQL on its own cluster")
        print("| events per transaction | WAL bytes per event | rows stored |")
        print("|---|---|---|")
        with psycopg.connect(url, autocommit=True) as conn:
            for batch in (int(b) for b in args.batches.split(",")):
                conn.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
                conn.execute("CHECKPOINT")
                start = lsn(conn)
                cli(env, "import-events", str(events), "--chunk-size", str(batch), "--quiet")
                wal = wal_since(conn, start)
                row = conn.execute("SELECT count(*) FROM tracking_event").fetchone()
                stored = int(str(row[0])) if row else 0
                print(f"| {batch:,} | {wal / stored:,.0f} | {stored:,} |")
            sizes = conn.execute(
                "SELECT sum(pg_total_relation_size(c)) FROM unnest(%s::regclass[]) AS c",
                [list(TABLES)],
            ).fetchone()
            total = int(str(sizes[0])) if sizes else 0
            print(f"raw tables and indexes: {total / stored:,.0f} B per event")
            conn.execute("CHECKPOINT")
            start = lsn(conn)
            first, last = end - dt.timedelta(days=6), end
            cli(env, "rollup", "--from", first.isoformat(), "--to", last.isoformat(), "--quiet")
            print(f"rollup of the 7 days: {wal_since(conn, start) / stored:,.0f} WAL B per event")


if __name__ == "__main__":
    main()
