"""Time to first byte of the dashboard page on the demo data, cold and warm (issue 15).

    .venv/bin/python bench/ttfb.py                    # SQLite + file cache: `make run`'s set-up
    .venv/bin/python bench/ttfb.py --postgres         # PostgreSQL + Redis (db 10)

A fresh data directory (or the PostgreSQL database ``sa_bench_ttfb``, dropped and
created), ``simple-analytics migrate``, ``demo`` (timed), ``rollup``, then ``serve`` with
its defaults on a free port. Logged in as the demo user through the login form, it asks
the dashboard for 30 days, 12 months and realtime: *cold* right after the cache is emptied
(``cache.clear()`` in a ``shell``; snapshots stay), the median of ``--cold`` tries; *warm*
the same page again, the median of ``--repeat``. Time to first byte is the time until the
response's status line and headers arrived (``http.client``), on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: the repository first

from systemtests.harness import CLI, HOST, cli, free_port, server_env, wait_http

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-analytics"
# Realtime is computed on every request (no cache): its cold and warm are the same work.
PERIODS = ("30d", "12m", "realtime")


def request(
    port: int, path: str, cookie: str = "", body: str = "", **headers: str
) -> tuple[http.client.HTTPResponse, str, float]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    all_headers = {"Cookie": cookie, **headers}
    if body:
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    start = time.perf_counter()
    conn.request("POST" if body else "GET", path, body=body or None, headers=all_headers)
    response = conn.getresponse()
    ttfb = time.perf_counter() - start
    data = response.read()
    conn.close()
    return response, data.decode("utf-8", "replace"), ttfb


def cookies_of(response: http.client.HTTPResponse, jar: dict[str, str]) -> str:
    for header in response.msg.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def login(port: int) -> str:
    jar: dict[str, str] = {}
    response, page, _ = request(port, "/accounts/login/")
    cookie = cookies_of(response, jar)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not token:
        raise SystemExit("no CSRF token on the login page")
    body = f"csrfmiddlewaretoken={token.group(1)}&login={DEMO_EMAIL}&password={DEMO_PASSWORD}"
    response, _, _ = request(
        port, "/accounts/login/", cookie, body, Referer=f"http://{HOST}:{port}/accounts/login/"
    )
    if response.status != 302:
        raise SystemExit(f"login failed: {response.status}")
    return cookies_of(response, jar)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="sa_ttfb_"))
    database_url = redis_url = ""
    if args.postgres:
        import psycopg

        with psycopg.connect(f"postgres://postgres@{HOST}:5432/postgres", autocommit=True) as c:
            c.execute('DROP DATABASE IF EXISTS "sa_bench_ttfb" WITH (FORCE)')
            c.execute('CREATE DATABASE "sa_bench_ttfb"')
        database_url = f"postgres://postgres@{HOST}:5432/sa_bench_ttfb"
        redis_url = f"redis://{HOST}:6379/10"
    env = server_env(database_url=database_url, redis_url=redis_url, data_dir=data_dir)
    if not args.postgres:
        for name in ("DATABASE_URL", "REDIS_URL"):
            env.pop(name, None)
    else:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    cli(env, "migrate", "-v0")
    start = time.perf_counter()
    cli(env, "demo", "--quiet", "--events", str(args.events), timeout=None)
    demo_s = time.perf_counter() - start
    cli(env, "rollup", "--quiet", timeout=None)
    port = free_port()
    server = subprocess.Popen(
        [CLI, "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_http(port, alive=lambda: server.poll() is None)
        cookie = login(port)
        response, page, _ = request(port, "/websites/", cookie)
        found = re.search(r'href="(/websites/\d+/)"', page)
        if not found:
            raise SystemExit("no website on the list page")
        dashboard = found.group(1)
        print(f"demo: {args.events:,} events in {demo_s:.1f} s; {dashboard}")
        print("| period | cold TTFB (median) | warm TTFB (median) | page bytes |")
        print("|---|---|---|---|")
        for period in PERIODS:
            cold, warm = [], []
            path = f"{dashboard}?period={period}"
            for _ in range(args.cold):
                cli(env, "shell", "-c", "from django.core.cache import cache; cache.clear()")
                response, body, ttfb = request(port, path, cookie)
                assert response.status == 200, response.status
                cold.append(ttfb)
            for _ in range(args.repeat):
                response, body, ttfb = request(port, path, cookie)
                warm.append(ttfb)
            print(
                f"| {period} | {statistics.median(cold) * 1000:.1f} ms "
                f"({min(cold) * 1000:.1f}–{max(cold) * 1000:.1f}) | "
                f"{statistics.median(warm) * 1000:.1f} ms "
                f"({min(warm) * 1000:.1f}–{max(warm) * 1000:.1f}) | {len(body.encode()):,} |"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
