"""Snapshots, cache and retention against the raw-data baseline (issue 4).

    .venv/bin/python bench/query.py [--events 1000000] [--days 730] [--repeat 3]
    .venv/bin/python bench/query.py --events 100000          # a quick run (~5 min)
    .venv/bin/python bench/query.py --reuse                  # skip generation and import
    .venv/bin/python bench/query.py --events 20000000 --pipe --db-name sa_bench_query_big
    .venv/bin/python bench/query.py --events 100000000 --copies 10 --db-name sa_bench_query_100m

What it does, all on 127.0.0.1:

1. Prepares a fresh PostgreSQL database ``sa_bench_query`` (dropped and created) and Redis
   db 9 (flushed): the cache is Redis, as in production. Creates a user and a website
   (Europe/Berlin) with the goals and funnel of ``core.synthetic`` (``goal add``, ``funnel
   add``), streams ``--events`` events over ``--days`` days from ``bench/make_events.py
   --custom-events`` into a file (events later than now are left out: make_events
   fills the whole current UTC day), loads them with ``simple-analytics import-events``
   (timed), runs VACUUM ANALYZE and keeps a pristine copy ``sa_bench_query_imported``.
   ``--reuse`` clones that copy instead of generating and importing again. ``--pipe``
   streams make_events straight into ``import-events -`` (no file; generation and import
   overlap, so the import time includes generation's share of the CPU) and prints the rate
   every minute. ``--copies K`` imports ``--events / K`` events that way, then adds K - 1
   copies of them in SQL (``multiply``, timed apart): copy k has its own sessions, visitor
   ids and event ids, and its times are k microseconds later, so no two rows of any index
   are equal and no visit moves to another local day (a visitor id belongs to one day);
   the store holds K times the traffic on the same days, at a fraction of the import's
   time. ``--db-name`` renames the database, its copy (``NAME_imported``) and the
   DATA_DIR, so a big run and a small one can coexist.
2. Raw-data baseline: the full dashboard page (``page()``: ``stats.queries.dashboard`` with
   summary, previous summary, chart, every breakdown, goals, custom events and funnels) inside ``stats.planner.raw_only()`` for today, 7d,
   30d, 12m and 2y (the last 730 local days). Median of ``--repeat`` runs; 12m and 2y run
   once when one run takes more than 10 s.
3. ``simple-analytics rollup --quiet`` (timed), VACUUM ANALYZE of the snapshot tables,
   then what the refresh job does for the open day: ``jobs.tasks.refresh(website)``
   (timed).
4. The same dashboards from snapshots: cold (``cache.clear()`` and ``stats.cache.forget()``
   right before the call), warm (the same call again, then the median of a loop of
   ``WARM_LOOP`` more, as the bare round trip is timed) and after a refresh (the open day's
   snapshot rewritten and the versions bumped, as the refresh job does while traffic
   flows: closed days' shares are still cached), medians of ``--repeat``; cold reads are
   taken in ``--cold-rounds`` interleaved rounds over all periods (default 9), so a busy
   moment of the machine slows every period once rather than one period three times; the
   bare Redis round trip (median of ``--probes`` ``cache.get`` of a small key). Every
   snapshot answer is compared with the raw answer of the same period (summary, previous
   summary, chart, breakdowns): a mismatch is printed loudly and the exit status is 1.
   Before each period the open day's snapshot is refreshed as the job would while traffic
   flows (``rollups.fill.refresh_open``, untimed) if the last refresh is over 60 s old.
5. Storage (pg_total_relation_size: table + indexes + TOAST) after the import, after the
   rollup, after ``simple-analytics prune`` (timed), after a plain VACUUM and after
   VACUUM FULL; then the dashboards once more, cold, checked against the raw answers taken
   before retention deleted the raw rows.
6. Memory: ``simple-analytics serve`` (granian web workers + Huey consumer with the
   scheduler) on ``--port`` (8765, or a free one) against the bench database and Redis;
   the summed RSS (and PSS) of its process tree idle ~10 s after start, then the peak
   under ~20 s of load (ingestion POSTs to /api/event from ``--ingest-clients`` threads
   plus logged-in dashboard page loads for every period from ``--page-clients`` threads)
   and the 10 s after it, while the debounced refresh job runs. The server is stopped with
   SIGTERM to its process group; a process left behind is reported (and killed).

Prints a results table at the end; ``--json FILE`` also writes every figure. Memory use of
this script is independent of ``--events`` (the event stream goes through a file), so
``--events 10000000`` works the same way.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from bench.bootstrap import ROOT, revision, setup_django
from bench.traffic import generate_events
from core.synthetic import FUNNEL, GOALS
from systemtests.harness import (
    CLI,
    HOST,
    VENV_BIN,
    cmdline,
    free_port,
    group_members,
    pss_kb,
    rss_kb,
    server_env,
    tree_depths,
)
from systemtests.harness import cli as run_cli

if TYPE_CHECKING:
    from requests.cookies import RequestsCookieJar

DB_NAME = "sa_bench_query"
PRISTINE = "sa_bench_query_imported"  # the database right after the import (--reuse)
ADMIN_DSN = f"postgres://postgres@{HOST}:5432/postgres"
DB_URL = f"postgres://postgres@{HOST}:5432/{DB_NAME}"
DATA_DIR = Path(tempfile.gettempdir()) / "sa_bench_query"
EMAIL, PASSWORD = "bench@example.com", "bench-password-123"
DOMAIN, TIMEZONE = "example.com", "Europe/Berlin"
PERIODS = ("today", "7d", "30d", "12m", "2y")
SLOW_S = 10.0  # a raw 12m/2y run slower than this is not repeated
REFRESH_EVERY_S = 60.0  # OPEN_SNAPSHOT_MAX_AGE_SECONDS is 120
WARM_LOOP = 200  # warm reads per repetition, as the bare round trip is a median of a loop
CONVERSIONS = ("goals", "events", "funnels")  # the conversion parts of page()
TABLES = ("tracking_event", "tracking_session", "rollups_snapshot", "rollups_snapshotrow")

mismatches: list[str] = []


def use_database(name: str) -> None:
    """--db-name: the bench database, its pristine copy and DATA_DIR follow ``name``."""
    global DB_NAME, PRISTINE, DB_URL, DATA_DIR
    DB_NAME, PRISTINE = name, f"{name}_imported"
    DB_URL = f"postgres://postgres@{HOST}:5432/{name}"
    DATA_DIR = Path(tempfile.gettempdir()) / name


# --- helpers ----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds * 1000:,.0f} ms"


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def app_env(redis_url: str) -> dict[str, str]:
    return server_env(
        database_url=DB_URL,
        redis_url=redis_url,
        data_dir=DATA_DIR,
        DJANGO_SETTINGS_MODULE="simple_analytics.settings",
    )


def cli(env: dict[str, str], *args: str) -> str:
    try:
        return run_cli(env, *args, timeout=None).stdout
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def number_before(words: str, text: str) -> int:
    """The integer in ``text`` right before ``words`` (e.g. "events stored")."""
    m = re.search(rf"(\d+) {words}", text)
    if not m:
        raise SystemExit(f"no number before {words!r} in:\n{text}")
    return int(m.group(1))


def pg(sql: str, dsn: str | None = None) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn or DB_URL, autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def database_exists(name: str) -> bool:
    return bool(pg(f"SELECT 1 FROM pg_database WHERE datname = '{name}'", ADMIN_DSN))


# --- 1. preparation ---------------------------------------------------------------------


def prepare(
    env: dict[str, str], events: int, days: int, *, pipe: bool = False, copies: int = 1
) -> dict[str, Any]:
    for name in (DB_NAME, PRISTINE):
        pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', ADMIN_DSN)
    pg(f'CREATE DATABASE "{DB_NAME}"', ADMIN_DSN)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for stale in ("site", "meta.json"):
        (DATA_DIR / stale).unlink(missing_ok=True)
    cli(env, "migrate", "-v0")
    cli(env, "createuser", EMAIL, "--password", PASSWORD)
    out = cli(env, "site", "add", DOMAIN, "--owner", EMAIL, "--timezone", TIMEZONE)
    m = re.search(r"tracking id:\s*(\S+)", out)
    if not m:
        raise SystemExit(f"no tracking id in the output of `site add`:\n{out}")
    site = m.group(1)
    # The goals and funnel of the traffic's custom events, defined before it arrives.
    for goal in GOALS:
        what = ["--page", goal["page_pattern"]] if goal["kind"] == "page" else []
        if goal["kind"] == "event":
            what = ["--event", goal["event_name"]]
            if goal.get("prop_key"):
                what += ["--prop", f"{goal['prop_key']}={goal['prop_value']}"]
        cli(env, "goal", "add", "--site", site, *what)
    name, steps = FUNNEL
    cli(env, "funnel", "add", "--site", site, "--name", name, *(f"--step={s}" for s in steps))

    # Stream make_events into a file, leaving out events later than now.
    cutoff = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    path = DATA_DIR / "events.ndjson"
    start = time.perf_counter()
    written = future = 0
    make_events = [str(VENV_BIN / "python"), str(ROOT / "bench" / "make_events.py")]
    options = ["--site", site, "--events", str(events), "--days", str(days), "--domain", DOMAIN]
    options.append("--custom-events")
    gen = subprocess.Popen(
        [*make_events, *options], stdout=subprocess.PIPE, text=True, bufsize=1 << 20
    )
    assert gen.stdout is not None
    importer = None
    if pipe:
        errors = (DATA_DIR / "import-errors.log").open("w")
        importer = subprocess.Popen(
            [CLI, "import-events", "-", "--quiet"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            bufsize=1 << 20,
        )
        assert importer.stdin is not None and importer.stdout is not None
    sink: IO[str] = path.open("w") if importer is None or not importer.stdin else importer.stdin
    next_report = start + 60
    with sink as fh:
        for line in gen.stdout:
            i = line.find('"ts":"')
            if i >= 0 and line[i + 6 : i + 25] > cutoff:
                future += 1
                continue
            fh.write(line)
            written += 1
            if pipe and not written % 10_000 and time.perf_counter() > next_report:
                # The pipe holds ~1 MB: lines passed on are (nearly) lines imported.
                elapsed = time.perf_counter() - start
                print(
                    f"  {elapsed:,.0f} s: {written:,} events passed to import-events "
                    f"({written / elapsed:,.0f}/s)",
                    flush=True,
                )
                next_report += 60
    if gen.wait() != 0:
        raise SystemExit("bench/make_events.py failed")
    gen_s: float | None = time.perf_counter() - start
    print(f"generated {written:,} events ({future:,} later than now left out) in {gen_s:.1f} s")

    if importer is None:
        start = time.perf_counter()
        out = cli(env, "import-events", str(path), "--quiet").strip()
        import_s = time.perf_counter() - start
        path.unlink()
    else:
        assert importer.stdout is not None
        out = importer.stdout.read().strip()
        if importer.wait() != 0:
            raise SystemExit(f"import-events failed: see {DATA_DIR / 'import-errors.log'}")
        import_s, gen_s = time.perf_counter() - start, None  # one pipeline, one time
    stored = number_before("events stored", out)
    print(f"import-events: {out}")
    print(f"import: {stored:,} events in {import_s:.1f} s = {stored / import_s:,.0f} events/s")
    copied: dict[str, Any] = {"copies": 1, "multiply_s": None, "imported": stored}
    if copies > 1:
        multiplied = multiply(copies)
        stored = multiplied.pop("stored")  # in meta once, as "stored"
        copied |= multiplied
        print(f"{copies} copies: {stored:,} events in all, {copied['multiply_s']:.1f} s")
    start = time.perf_counter()
    pg("VACUUM (ANALYZE)")
    print(f"VACUUM (ANALYZE) after the import: {time.perf_counter() - start:.1f} s")
    pg(f'CREATE DATABASE "{PRISTINE}" TEMPLATE "{DB_NAME}" STRATEGY FILE_COPY', ADMIN_DSN)
    meta = {
        "site": site,
        "events_requested": events,
        "days": days,
        "lines": written,
        "stored": stored,
        "import_s": import_s,
        "generate_s": gen_s,
        **copied,
        "imported_at": dt.datetime.now(dt.UTC).isoformat(),
        "pipe": pipe,
    }
    (DATA_DIR / "meta.json").write_text(json.dumps(meta, indent=2))
    (DATA_DIR / "site").write_text(site)
    return meta


# Copy k of a row: ids beyond every original, a visitor and dedup key of its own (bits 40+
# flipped), times k microseconds later: no index entry repeats, and visits keep their day.
SHIFTED = {
    "id": "id + {k} * {top}",
    "session_id": "session_id + {k} * {sessions}",
    "visitor_id": "visitor_id # ({k}::bigint << 40)",
    "dedup_key": "dedup_key # ({k}::bigint << 40)",
}


def copy_expression(column: str, kind: str, k: int, top: int, sessions: int) -> str:
    if column in SHIFTED:
        return SHIFTED[column].format(k=k, top=top, sessions=sessions)
    if kind == "timestamp with time zone":
        return f"{column} + interval '{k} microseconds'"
    return column


def multiply(copies: int) -> dict[str, Any]:
    """Add ``copies - 1`` shifted copies of every session, event and drop count."""
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(DB_URL, autocommit=True) as conn:
        # Rows consistent by construction: skip the deferred FK triggers (10M queued each).
        conn.execute("SET session_replication_role = replica")
        tops, columns = {}, {}
        for table in ("tracking_session", "tracking_event"):
            (tops[table],) = conn.execute(f"SELECT max(id) FROM {table}").fetchall()[0]
            columns[table] = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s ORDER BY ordinal_position",
                (table,),
            ).fetchall()
        for k in range(1, copies):
            for table in ("tracking_session", "tracking_event"):
                names = ", ".join(c for c, _ in columns[table])
                values = ", ".join(
                    copy_expression(c, t, k, tops[table], tops["tracking_session"])
                    for c, t in columns[table]
                )
                t0 = time.perf_counter()
                conn.execute(
                    f"INSERT INTO {table} ({names}) SELECT {values} FROM {table} "
                    f"WHERE id <= {tops[table]} ORDER BY id"
                )
                print(f"  copy {k} of {table}: {time.perf_counter() - t0:.1f} s", flush=True)
        conn.execute(f"UPDATE tracking_dropcount SET count = count * {copies}")
        for table in ("tracking_session", "tracking_event"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        ((stored,),) = conn.execute("SELECT count(*) FROM tracking_event").fetchall()
    return {"copies": copies, "multiply_s": time.perf_counter() - start, "stored": stored}


def restore() -> dict[str, Any]:
    """--reuse: a fresh copy of the imported database, nothing rolled up or pruned."""
    pg(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)', ADMIN_DSN)
    start = time.perf_counter()
    pg(f'CREATE DATABASE "{DB_NAME}" TEMPLATE "{PRISTINE}" STRATEGY FILE_COPY', ADMIN_DSN)
    meta: dict[str, Any] = json.loads((DATA_DIR / "meta.json").read_text())
    print(
        f"--reuse: cloned {PRISTINE} (imported {meta['imported_at']}, {meta['stored']:,} "
        f"events) in {time.perf_counter() - start:.1f} s"
    )
    return meta


# --- storage ----------------------------------------------------------------------------


def storage(stage: str) -> dict[str, Any]:
    sizes = {t: pg(f"SELECT pg_total_relation_size('{t}')")[0][0] for t in TABLES}
    sizes["database"] = pg("SELECT pg_database_size(current_database())")[0][0]
    counts = {
        "events": pg("SELECT count(*) FROM tracking_event")[0][0],
        "sessions": pg("SELECT count(*) FROM tracking_session")[0][0],
        "snapshots": pg("SELECT count(*) FROM rollups_snapshot")[0][0],
        "snapshot_rows": pg("SELECT count(*) FROM rollups_snapshotrow")[0][0],
    }
    raw = sizes["tracking_event"] + sizes["tracking_session"]
    per_event = raw / counts["events"] if counts["events"] else None
    print(
        f"  storage {stage}: "
        + ", ".join(f"{t} {mib(sizes[t])}" for t in TABLES)
        + f", database {mib(sizes['database'])}; {counts['events']:,} events, "
        f"{counts['sessions']:,} sessions, {counts['snapshots']:,} snapshots, "
        f"{counts['snapshot_rows']:,} snapshot rows"
        + (f"; raw {per_event:,.0f} bytes/event" if per_event else "")
    )
    return {"stage": stage, "sizes": sizes, "counts": counts, "raw_bytes_per_event": per_event}


# --- answers ----------------------------------------------------------------------------


def page(website: Any, period: Any) -> dict[str, Any]:
    """What the dashboard page reads: one bundle with the summary, chart, breakdowns, goals,
    custom events and funnels (``stats.queries.dashboard``)."""
    from stats import queries

    with queries.one_read():
        return queries.dashboard(website, period)


def differences(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    out = []
    for part in CONVERSIONS:
        if expected[part] != got[part]:
            out.append(f"{part}: raw {expected[part][:3]} ... vs snapshot {got[part][:3]} ...")
    for part in ("summary", "previous", "timeseries"):
        if expected[part] != got[part]:
            if part == "timeseries":
                bad = [(a, b) for a, b in zip(expected[part], got[part], strict=False) if a != b]
                detail = f"{len(bad)} points differ" + (
                    f", e.g. raw {bad[0][0]} vs snapshot {bad[0][1]}" if bad else " (length)"
                )
            else:
                detail = f"raw {expected[part]} vs snapshot {got[part]}"
            out.append(f"{part}: {detail}")
    for dim, rows in expected["breakdowns"].items():
        other = got["breakdowns"].get(dim)
        if rows != other:
            out.append(f"breakdown {dim}: raw {rows[:3]} ... vs snapshot {(other or [])[:3]} ...")
    return out


def check(
    label: str, expected: dict[str, Any], got: dict[str, Any], *, retention: bool = False
) -> bool:
    diff = differences(expected, got)
    if retention:
        # The previous period may reach data retention removed on purpose: daily snapshots
        # past DAILY_RETENTION_DAYS, and a part-day (12m's previous period ends at the
        # current time of day) whose raw rows are gone is answered by its whole day's
        # snapshot (stats/planner.py). Shown, not counted.
        for line in [d for d in diff if d.startswith("previous:")]:
            print(f"  note {label}: {line} (retention, see stats/planner.py)")
        diff = [d for d in diff if not d.startswith("previous:")]
    for line in diff:
        message = f"MISMATCH {label}: {line}"
        mismatches.append(message)
        print("!" * 12 + " " + message, flush=True)
    return not diff


# --- 6. the server's memory ---------------------------------------------------------------


def tree(root: int) -> dict[int, tuple[int | None, str]]:
    """pid -> (depth below ``root``, None for a process only in its group; command line) of
    the process ``root``, its descendants and anything else in its process group."""
    depths: dict[int, int | None] = dict(tree_depths(root))
    for pid in group_members(root):
        depths.setdefault(pid, None)
    return {pid: (depth, cmdline(pid)) for pid, depth in depths.items() if rss_kb(pid) is not None}


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes; zeros if the process is gone."""
    return (rss_kb(pid) or 0) * 1024, (pss_kb(pid) or 0) * 1024


def role(pid: int, depth: int | None, cmd: str, root: int) -> str:
    # `serve` execs the supervisor, or with JOBS_IN_WEB granian itself (then its one
    # worker runs the jobs as threads).
    supervised = "simple_analytics.supervisor" in cmdline(root)
    if pid == root:
        return "serve (supervisor)" if supervised else "granian main"
    if "run_huey" in cmd or " worker" in cmd:
        return "jobs worker (Huey + scheduler)"
    if "granian" in cmd and depth == 1 and supervised:
        return "granian main"
    return "granian web worker"


class Sampler(threading.Thread):
    """Samples the process tree's summed RSS/PSS every ``interval`` seconds."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.stop = threading.Event()
        self.peak_rss = self.peak_pss = 0
        self.peak_by_role: dict[str, int] = {}

    def sample(self) -> tuple[int, int, dict[str, int]]:
        procs = tree(self.root)
        total_rss = total_pss = 0
        by_role: dict[str, int] = Counter()
        for pid, (depth, cmd) in procs.items():
            rss, pss = memory(pid)
            total_rss += rss
            total_pss += pss
            by_role[role(pid, depth, cmd, self.root)] += rss
        return total_rss, total_pss, dict(by_role)

    def run(self) -> None:
        while not self.stop.is_set():
            rss, pss, by_role = self.sample()
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            for k, v in by_role.items():
                self.peak_by_role[k] = max(self.peak_by_role.get(k, 0), v)
            self.stop.wait(self.interval)


def login(base: str) -> RequestsCookieJar:
    import requests

    s = requests.Session()
    page = s.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if not token:
        raise SystemExit("no CSRF token on the login page")
    r = s.post(
        f"{base}/accounts/login/",
        timeout=30,
        allow_redirects=False,
        data={"login": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    if r.status_code != 302 or "sessionid" not in s.cookies:
        raise SystemExit(f"login failed: {r.status_code} {r.text[:300]}")
    return s.cookies


def serve_and_measure(
    env: dict[str, str],
    args: argparse.Namespace,
    site: str,
    website_pk: int,
    two_years: tuple[str, str],
) -> dict[str, Any]:
    import requests

    port = free_port(args.port)
    base = f"http://{HOST}:{port}"
    serve_env = {**env, "HOST": HOST, "PORT": str(port)}
    log_path = DATA_DIR / "serve.log"
    log = log_path.open("w")
    print(f"\n== 6. Memory: `simple-analytics serve` on {base} (log: {log_path}) ==")
    server = subprocess.Popen(
        [CLI, "serve"],
        env=serve_env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    result: dict[str, Any] = {"port": port}
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        started = time.monotonic()
        sampler = Sampler(server.pid)
        procs = tree(server.pid)
        for pid, (depth, cmd) in sorted(procs.items()):
            print(
                f"  pid {pid:>7}  {role(pid, depth, cmd, server.pid):<31} {mib(memory(pid)[0]):>10}"
                f"  {cmd[:80]}"
            )
        time.sleep(max(0.0, args.idle_seconds - (time.monotonic() - started)))
        rss, pss, by_role = sampler.sample()
        result["idle"] = {"rss": rss, "pss": pss, "by_role": by_role, "processes": len(procs)}
        print(
            f"  idle {args.idle_seconds:.0f} s after start: RSS {mib(rss)} (PSS {mib(pss)}); "
            + ", ".join(f"{k} {mib(v)}" for k, v in sorted(by_role.items()))
        )

        cookies = login(base)
        traffic = generate_events(20_000, tracking_id=site, n_ips=20_000, seed=4)
        stop = threading.Event()
        ingest_codes: Counter[int | str] = Counter()
        page_codes: Counter[int | str] = Counter()
        page_times: list[float] = []
        lock = threading.Lock()
        queries = [f"period={p}" for p in PERIODS[:-1]]
        queries.append(f"period=custom&from={two_years[0]}&to={two_years[1]}")

        def ingest_client(i: int) -> None:
            s = requests.Session()
            n = i
            while not stop.is_set():
                ua, ip, body = traffic[n % len(traffic)]
                n += args.ingest_clients
                try:
                    code: int | str = s.post(
                        f"{base}/api/event",
                        data=body,
                        timeout=30,
                        headers={
                            "User-Agent": ua,
                            "X-Forwarded-For": ip,
                            "Content-Type": "text/plain;charset=UTF-8",
                        },
                    ).status_code
                except requests.RequestException as exc:
                    code = type(exc).__name__
                with lock:
                    ingest_codes[code] += 1

        def page_client(i: int) -> None:
            s = requests.Session()
            s.cookies.update(cookies)
            n = i
            while not stop.is_set():
                url = f"{base}/websites/{website_pk}/?{queries[n % len(queries)]}"
                n += 1
                t0 = time.perf_counter()
                try:
                    code: int | str = s.get(url, timeout=120, allow_redirects=False).status_code
                except requests.RequestException as exc:
                    code = type(exc).__name__
                with lock:
                    page_codes[code] += 1
                    page_times.append(time.perf_counter() - t0)

        sampler.start()
        threads = [
            threading.Thread(target=ingest_client, args=(i,), daemon=True)
            for i in range(args.ingest_clients)
        ]
        threads += [
            threading.Thread(target=page_client, args=(i,), daemon=True)
            for i in range(args.page_clients)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.load_seconds)
        stop.set()
        for t in threads:
            t.join(timeout=130)
        load_s = time.perf_counter() - t0
        peak_load = (sampler.peak_rss, sampler.peak_pss)
        time.sleep(args.after_seconds)  # the debounced refresh job of the last events
        sampler.stop.set()
        sampler.join()
        after = sampler.sample()
        accepted = sum(n for c, n in ingest_codes.items() if isinstance(c, int) and c < 300)
        pages_ok = page_codes.get(200, 0)
        result["load"] = {
            "seconds": load_s,
            "ingest_clients": args.ingest_clients,
            "page_clients": args.page_clients,
            "ingest_codes": dict(ingest_codes),
            "page_codes": dict(page_codes),
            "events_per_s": accepted / load_s,
            "pages_per_s": pages_ok / load_s,
            "page_median_s": statistics.median(page_times) if page_times else None,
            "peak_rss_during_load": peak_load[0],
            "peak_pss_during_load": peak_load[1],
            "peak_rss": sampler.peak_rss,
            "peak_pss": sampler.peak_pss,
            "peak_by_role": sampler.peak_by_role,
            "idle_after_rss": after[0],
            "idle_after_pss": after[1],
        }
        print(
            f"  load {load_s:.0f} s: {accepted / load_s:,.0f} events/s accepted "
            f"({dict(ingest_codes)}), {pages_ok / load_s:.1f} dashboard pages/s "
            f"({dict(page_codes)}, median {ms(statistics.median(page_times or [0]))})"
        )
        print(
            f"  peak RSS {mib(sampler.peak_rss)} (PSS {mib(sampler.peak_pss)}) during the "
            f"load and the {args.after_seconds:.0f} s after it; per role: "
            + ", ".join(f"{k} {mib(v)}" for k, v in sorted(sampler.peak_by_role.items()))
        )
        print(
            f"  {args.after_seconds:.0f} s after the load: RSS {mib(after[0])} "
            f"(PSS {mib(after[1])})"
        )
    finally:
        result["stopped"] = stop_server(server)
        log.close()
    return result


def stop_server(server: subprocess.Popen[bytes]) -> dict[str, Any]:
    """SIGTERM to the process group; waits, then kills and reports anything left."""
    pgid = server.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 30
    left: dict[int, str] = {}
    while time.monotonic() < deadline:
        server.poll()
        left = {pid: cmdline(pid) for pid in group_members(pgid)}
        if not left and server.returncode is not None:
            break
        time.sleep(0.3)
    if left:
        print(f"!!!!!!!!!!!! processes left 30 s after SIGTERM, killed: {left}")
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.wait(timeout=10)
    print(
        f"  server stopped (exit status {server.returncode}); "
        f"{'nothing left behind' if not left else f'{len(left)} processes had to be killed'}"
    )
    return {"returncode": server.returncode, "left_behind": len(left)}


# --- main -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--cold-rounds",
        type=int,
        default=9,
        help="interleaved rounds of cold reads (their median is the cold figure)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help=f"clone the imported database {PRISTINE} if it exists"
    )
    parser.add_argument("--redis-url", default=f"redis://{HOST}:6379/9")
    parser.add_argument("--probes", type=int, default=2000, help="bare cache round trips")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--idle-seconds", type=float, default=10)
    parser.add_argument("--load-seconds", type=float, default=20)
    parser.add_argument("--after-seconds", type=float, default=10)
    parser.add_argument("--ingest-clients", type=int, default=8)
    parser.add_argument("--page-clients", type=int, default=2)
    parser.add_argument("--no-server", action="store_true", help="skip the memory part")
    parser.add_argument(
        "--db-name", default=DB_NAME, help="the bench database (its copy: NAME_imported)"
    )
    parser.add_argument(
        "--pipe", action="store_true", help="stream make_events into import-events (no file)"
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=1,
        help="import --events / K, then add K - 1 shifted copies in SQL",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    if args.copies < 1:
        parser.error("--copies: at least 1")
    if not re.fullmatch(r"sa_bench_query\w*", args.db_name):
        parser.error("--db-name: sa_bench_query followed by letters, digits or _")
    use_database(args.db_name)
    command = "bench/query.py " + " ".join(sys.argv[1:])
    git = revision()
    print(f"code measured: {ROOT} (revision {git})")
    env = app_env(args.redis_url)
    results: dict[str, Any] = {
        "command": command,
        "tree": str(ROOT),
        "git": git,
        "events_arg": args.events,
        "days": args.days,
        "repeat": args.repeat,
        "cold_rounds": args.cold_rounds,
    }

    print(f"== 1. Preparation: PostgreSQL {DB_NAME}, Redis {args.redis_url} ==")
    flush_redis(args.redis_url)
    if args.reuse and database_exists(PRISTINE) and (DATA_DIR / "meta.json").exists():
        meta = restore()
    else:
        meta = prepare(
            env, args.events // args.copies, args.days, pipe=args.pipe, copies=args.copies
        )
    results["prepare"] = meta
    site = meta["site"]

    # Everything else runs in this process, against the prepared database.
    os.environ.update(env)
    setup_django()
    from django.core.cache import cache

    from jobs.tasks import refresh
    from rollups import fill
    from stats import cache as stats_cache
    from stats import planner
    from stats.periods import for_days, from_query
    from websites.models import Website

    website = Website.objects.get(tracking_id=site)
    tz = website.tz
    stages = [storage("after the import")]
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(tz).date()
    # One Period object per period, used by every phase: "today" compares with yesterday
    # until the same minute, so a fresh one later would ask a (slightly) different question.
    periods = {key: from_query({"period": key}, tz, now=now) for key in PERIODS[:-1]}
    periods["2y"] = for_days(today - dt.timedelta(days=729), today, tz)
    two_years = (periods["2y"].first_day.isoformat(), periods["2y"].last_day.isoformat())

    print(
        f"\n== 2. Raw-data baseline: full dashboard inside planner.raw_only(), "
        f"median of {args.repeat} =="
    )
    raw_answers: dict[str, dict[str, Any]] = {}
    raw_times: dict[str, list[float]] = {}
    for key, period in periods.items():
        times: list[float] = []
        with planner.raw_only():
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                answer = page(website, period)
                times.append(time.perf_counter() - t0)
                raw_answers.setdefault(key, answer)
                if key in ("12m", "2y") and times[0] > SLOW_S:
                    break
        raw_times[key] = times
        s = raw_answers[key]["summary"]
        note = " (1 run: slower than 10 s)" if len(times) == 1 and args.repeat > 1 else ""
        print(
            f"  {key:>5} ({period.first_day} .. {period.last_day}): "
            f"{ms(statistics.median(times))}{note}  [{s.pageviews:,} page views, "
            f"{s.visitors:,} visitors, {s.sessions:,} sessions]",
            flush=True,
        )

    print("\n== 3. Rollups and the refresh job ==")
    t0 = time.perf_counter()
    out = cli(env, "rollup", "--quiet").strip()
    rollup_s = time.perf_counter() - t0
    print(f"  simple-analytics rollup --quiet: {out}; {rollup_s:.1f} s")
    for table in ("rollups_snapshot", "rollups_snapshotrow", "rollups_watermark"):
        pg(f"VACUUM (ANALYZE) {table}")  # what autovacuum does soon after a backfill
    t0 = time.perf_counter()
    refresh(website)
    refresh_s = time.perf_counter() - t0
    last_refresh = time.monotonic()
    print(f"  jobs.tasks.refresh(website) (open hour/day + warm today/7d/30d): {ms(refresh_s)}")
    results["rollup"] = {"output": out, "seconds": rollup_s, "refresh_s": refresh_s}
    stages.append(storage("after the rollup"))

    print(
        f"\n== 4. Snapshots and cache (Redis): cold (median of {args.cold_rounds} interleaved "
        f"rounds), warm and after a refresh (median of {args.repeat}) =="
    )
    cache.set("bench-probe", "x" * 16, None)
    probes = []
    for _ in range(args.probes):
        t0 = time.perf_counter()
        cache.get("bench-probe")
        probes.append(time.perf_counter() - t0)
    bare = statistics.median(probes)
    print(f"  bare cache round trip (median of {args.probes} cache.get): {bare * 1e6:.0f} µs")
    cold_times: dict[str, list[float]] = {key: [] for key in periods}
    warm_times: dict[str, list[float]] = {}
    refreshed_times: dict[str, list[float]] = {}
    first_warm_times: dict[str, list[float]] = {}
    equal: dict[str, bool] = dict.fromkeys(periods, True)
    # Cold reads in interleaved rounds (today, 7d, ..., 2y, then again): a busy moment of
    # this shared machine slows one round of every period instead of one period's runs,
    # so the ratios between periods hold (the 7d figure alone swung 18-43 ms between
    # runs of the same code when each period's runs were taken together).
    for _ in range(args.cold_rounds):
        for key, period in periods.items():
            if time.monotonic() - last_refresh > REFRESH_EVERY_S:
                fill.refresh_open(website)  # what the refresh job does while traffic flows
                stats_cache.publish_versions(website.id)
                last_refresh = time.monotonic()
            cache.clear()
            stats_cache.forget()
            t0 = time.perf_counter()
            answer = page(website, period)
            cold_times[key].append(time.perf_counter() - t0)
            equal[key] &= check(f"{key} cold", raw_answers[key], answer)
    for key, period in periods.items():
        if time.monotonic() - last_refresh > REFRESH_EVERY_S:
            fill.refresh_open(website)
            stats_cache.publish_versions(website.id)
            last_refresh = time.monotonic()
        warm, first_warm, fresh, ok = [], [], [], equal[key]
        cold = cold_times[key]
        for _ in range(args.repeat):
            cache.clear()
            stats_cache.forget()
            page(website, period)  # fills the cache (timed in the rounds above)
            t0 = time.perf_counter()
            again = page(website, period)
            first_warm.append(time.perf_counter() - t0)
            # Warm as the bare round trip is measured: the median of a loop of reads (a
            # single read per repetition compared a cold CPU with a tight loop).
            loop = []
            for _ in range(WARM_LOOP):
                t0 = time.perf_counter()
                page(website, period)
                loop.append(time.perf_counter() - t0)
            warm.append(statistics.median(loop))
            # A refresh (new open-day snapshot, new versions): what a reader meets while
            # traffic flows, with the closed days' shares still cached.
            fill.refresh_open(website)
            stats_cache.publish_versions(website.id)
            last_refresh = time.monotonic()
            t0 = time.perf_counter()
            after = page(website, period)
            fresh.append(time.perf_counter() - t0)
            ok &= check(f"{key} warm", raw_answers[key], again)
            ok &= check(f"{key} after a refresh", raw_answers[key], after)
        warm_times[key], equal[key] = warm, ok
        refreshed_times[key] = fresh
        first_warm_times[key] = first_warm
        print(
            f"  {key:>5}: cold {ms(statistics.median(cold))}, warm "
            f"{ms(statistics.median(warm))} ({statistics.median(warm) / bare:.1f}x bare; "
            f"the first warm read {ms(statistics.median(first_warm))}), "
            f"after a refresh {ms(statistics.median(fresh))}; "
            f"answers {'equal the raw ones' if ok else 'DIFFER FROM THE RAW ONES'}",
            flush=True,
        )
    med = statistics.median
    ratios: dict[str, Any] = {
        "raw_12m_over_cold_12m": med(raw_times["12m"]) / med(cold_times["12m"]),
        "warm_over_bare_max": max(med(w) / bare for w in warm_times.values()),
        "cold_2y_over_cold_7d": med(cold_times["2y"]) / med(cold_times["7d"]),
    }
    per_round = [a / b for a, b in zip(cold_times["2y"], cold_times["7d"], strict=True)]
    ratios["cold_2y_over_cold_7d_rounds"] = per_round
    print(
        f"  2y cold / 7d cold: {ratios['cold_2y_over_cold_7d']:.2f}x (medians); per round "
        f"{min(per_round):.2f}-{max(per_round):.2f}x, median {med(per_round):.2f}x"
    )
    results["timings"] = {
        key: {
            "raw": raw_times[key],
            "cold": cold_times[key],
            "warm": warm_times[key],
            "first_warm": first_warm_times[key],
            "after_refresh": refreshed_times[key],
            "equal": equal[key],
        }
        for key in periods
    }
    results["bare_s"] = bare
    results["ratios"] = ratios

    print("\n== 5. Retention: simple-analytics prune ==")
    t0 = time.perf_counter()
    out = cli(env, "prune", "--quiet").strip()
    prune_s = time.perf_counter() - t0
    deleted = number_before("events", out)
    print(f"  {out}; {prune_s:.1f} s = {deleted / prune_s:,.0f} events deleted/s")
    results["prune"] = {"output": out, "seconds": prune_s, "events_deleted": deleted}
    stages.append(storage("after prune"))
    for sql, stage in (("VACUUM", "after VACUUM"), ("VACUUM FULL", "after VACUUM FULL")):
        t0 = time.perf_counter()
        pg(sql)
        print(f"  {sql}: {time.perf_counter() - t0:.1f} s")
        stages.append(storage(stage))
    pg("ANALYZE")
    results["storage"] = stages

    print(
        "  dashboards after retention (cold, from snapshots; checked against the raw "
        "answers taken before it, previous period apart):"
    )
    fill.refresh_open(website)
    stats_cache.publish_versions(website.id)
    after_prune: dict[str, float] = {}
    for key, period in periods.items():
        cache.clear()
        stats_cache.forget()
        t0 = time.perf_counter()
        answer = page(website, period)
        after_prune[key] = time.perf_counter() - t0
        ok = check(f"{key} after retention", raw_answers[key], answer, retention=True)
        equal[key] &= ok
        print(f"  {key:>5}: cold {ms(after_prune[key])}; {'equal' if ok else 'DIFFERENT'}")
    results["after_retention_cold_s"] = after_prune

    if not args.no_server:
        flush_redis(args.redis_url)  # a clean job queue for the server
        results["memory"] = serve_and_measure(env, args, site, website.pk, two_years)

    # --- results table -----------------------------------------------------------------
    n = meta["stored"]
    print(f"\n== Results: {command} ==")
    print(
        f"{n:,} events over {meta['days']} days ({TIMEZONE}), PostgreSQL + Redis db "
        f"{args.redis_url.rsplit('/', 1)[-1]}; medians of {args.repeat} "
        f"(cold: of {args.cold_rounds} interleaved rounds)"
    )
    imported = meta.get("imported", n)
    if meta.get("copies", 1) > 1:
        print(
            f"{imported:,} imported, then {meta['copies'] - 1} shifted copies in SQL "
            f"({meta['multiply_s']:.1f} s)"
        )
    print(
        f"import {meta['import_s']:.1f} s = {imported / meta['import_s']:,.0f} events/s; rollup "
        f"{rollup_s:.1f} s ({results['rollup']['output']}); refresh job {ms(refresh_s)}; "
        f"prune {prune_s:.1f} s = {deleted / prune_s:,.0f} events/s"
    )
    print(
        "\n| period | raw (baseline) | cold | warm | after a refresh | raw / cold "
        "| warm / bare RTT | cold after retention | answers equal raw |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for key in periods:
        raw_m, cold_m, warm_m = med(raw_times[key]), med(cold_times[key]), med(warm_times[key])
        once = " (1 run)" if len(raw_times[key]) == 1 and args.repeat > 1 else ""
        print(
            f"| {key} | {ms(raw_m)}{once} | {ms(cold_m)} | {ms(warm_m)} "
            f"| {ms(med(refreshed_times[key]))} | {raw_m / cold_m:,.1f}× "
            f"| {warm_m / bare:.1f}× | {ms(after_prune[key])} | "
            f"{'yes' if equal[key] else '**NO**'} |"
        )
    print(f"\nbare cache round trip: {bare * 1e6:.0f} µs")
    goals: tuple[tuple[str, str, str, bool], ...] = (
        (
            "cold 12m vs raw 12m",
            f"{ratios['raw_12m_over_cold_12m']:,.0f}× faster",
            "≥ 50×",
            ratios["raw_12m_over_cold_12m"] >= 50,
        ),
        (
            "warm vs bare round trip (worst period)",
            f"{ratios['warm_over_bare_max']:.1f}×",
            "≤ 3×",
            ratios["warm_over_bare_max"] <= 3,
        ),
        (
            "2y cold vs 7d cold",
            f"{ratios['cold_2y_over_cold_7d']:.1f}×",
            "≤ 2×",
            ratios["cold_2y_over_cold_7d"] <= 2,
        ),
        (
            "raw storage per event",
            f"{stages[0]['raw_bytes_per_event']:,.0f} bytes",
            "≤ 300 bytes",
            stages[0]["raw_bytes_per_event"] <= 300,
        ),
    )
    mem = results.get("memory")
    if mem:
        goals += (
            (
                "RSS idle (web + worker)",
                mib(mem["idle"]["rss"]),
                "≤ 150 MiB",
                mem["idle"]["rss"] <= 150 * 2**20,
            ),
            (
                "peak RSS under load",
                mib(mem["load"]["peak_rss"]),
                "≤ 300 MiB",
                mem["load"]["peak_rss"] <= 300 * 2**20,
            ),
        )
    print("\n| goal | measured | target | met |\n|---|---|---|---|")
    for name, value, target, met in goals:
        print(f"| {name} | {value} | {target} | {'yes' if met else '**no**'} |")
    print(
        "\n| storage | tracking_event | tracking_session | rollups_snapshot "
        "| rollups_snapshotrow | database | events | raw bytes/event |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for st in stages:
        z, c = st["sizes"], st["counts"]
        per = f"{st['raw_bytes_per_event']:,.0f}" if st["raw_bytes_per_event"] else "–"
        print(
            f"| {st['stage']} | "
            + " | ".join(mib(z[t]) for t in TABLES)
            + f" | {mib(z['database'])} | {c['events']:,} | {per} |"
        )
    if mem:
        load = mem["load"]
        print(
            f"\nmemory (sum over {mem['idle']['processes']} processes): idle {mib(mem['idle']['rss'])} "
            f"RSS / {mib(mem['idle']['pss'])} PSS; peak under load {mib(load['peak_rss'])} RSS / "
            f"{mib(load['peak_pss'])} PSS; after the load {mib(load['idle_after_rss'])} RSS; "
            f"load {load['events_per_s']:,.0f} events/s + {load['pages_per_s']:.1f} pages/s; "
            f"left behind: {mem['stopped']['left_behind']}"
        )
    if mismatches:
        print(f"\n{len(mismatches)} MISMATCHES between snapshot and raw answers:")
        for line in mismatches:
            print("  " + line)
    results["mismatches"] = mismatches
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
