"""Time the dashboard's stats calls on imported events (the raw-data baseline).

    .venv/bin/python bench/dashboard.py [--events 1000000] [--days 90] [--sqlite] [--reuse]

Creates (or with --reuse keeps) a database `sa_bench_dash` on the local PostgreSQL (or a
SQLite file with --sqlite), imports --events events over --days days through
`import-events`, then times one full dashboard — summary + previous-period summary +
time series + every breakdown — for the last 7, 30 and 90 days. Prints medians of 5 runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import ROOT, setup_django

BIN = ROOT / ".venv" / "bin"
PG_URL = "postgres://postgres@127.0.0.1:5432/sa_bench_dash"


def run(cmd: list[str], env: dict[str, str]) -> str:
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout


def prepare(env: dict[str, str], events: int, days: int) -> str:
    cli = str(BIN / "simple-analytics")
    run([cli, "migrate", "-v0"], env)
    run([cli, "createuser", "bench@example.com", "--password", "bench-password-123"], env)
    owner = ["--owner", "bench@example.com", "--timezone", "Europe/Berlin"]
    site = run([cli, "site", "add", "bench.example", *owner], env).split()[2]
    make_events = [str(BIN / "python"), str(ROOT / "bench" / "make_events.py"), "--site", site]
    options = ["--events", str(events), "--days", str(days), "--domain", "bench.example"]
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as fh:
        subprocess.run([*make_events, *options], stdout=fh, check=True)
    start = time.perf_counter()
    print(run([cli, "import-events", fh.name, "--quiet"], env).strip())
    print(f"import: {time.perf_counter() - start:.1f} s")
    os.unlink(fh.name)
    return site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data_dir = Path(tempfile.gettempdir()) / (
        "sa_bench_dash_sqlite" if args.sqlite else "sa_bench_dash"
    )
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "simple_analytics.settings",
    }
    env.pop("REDIS_URL", None)
    if not args.sqlite:
        env["DATABASE_URL"] = PG_URL
    fresh = not args.reuse or not (data_dir / "site").exists()
    if fresh:
        if args.sqlite:
            subprocess.run(["rm", "-rf", str(data_dir)], check=True)
        else:
            psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q"]
            recreate = ["-c", "DROP DATABASE IF EXISTS sa_bench_dash"]
            recreate += ["-c", "CREATE DATABASE sa_bench_dash"]
            subprocess.run([*psql, *recreate], check=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        site = prepare(env, args.events, args.days)
        (data_dir / "site").write_text(site)
    # Time in this process, against the prepared database.
    os.environ.update(env)
    setup_django()
    from stats import queries
    from stats.dimensions import BREAKDOWNS
    from stats.periods import from_query
    from websites.models import Website

    website = Website.objects.get(tracking_id=(data_dir / "site").read_text())

    today = dt.datetime.now(website.tz).date()
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"{backend}, {args.events:,} events over {args.days} days; median of {args.repeat}")
    for days in (7, 30, 90):
        params = {
            "from": (today - dt.timedelta(days=days - 1)).isoformat(),
            "to": today.isoformat(),
        }
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            period = from_query(params, website.tz)
            queries.summary(website, period)
            queries.summary(website, period.previous())
            queries.timeseries(website, period)
            for dimension in BREAKDOWNS:
                queries.breakdown(website, period, dimension, limit=10)
            times.append(time.perf_counter() - start)
        spread = f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})"
        print(
            f"  {days:>2} days: full dashboard {statistics.median(times) * 1000:8.0f} ms {spread}"
        )


if __name__ == "__main__":
    main()
