"""The app under ``bench/ingest.py``: its database, Redis db and website, and the server.

``Env`` is one bench's set-up on 127.0.0.1: a fresh PostgreSQL database and Redis db, the
production settings on them, a user and a website made with the ``simple-analytics`` CLI;
``Server`` is ``simple-analytics serve`` on them. The counts of stored and dropped events
are what the bench checks the accepted answers against.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.traffic import AGENTS, SITE_DOMAIN
from systemtests.harness import CLI, HOST, ROOT, Proc, cli, server_env, tree, wait_http


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


def pg_query(env: Env, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(env.database_url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def run_cli(env: Env, *args: str) -> str:
    try:
        return cli(env.env, *args).stdout
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def setup_app(env: Env) -> None:
    pg_admin(env, f'DROP DATABASE IF EXISTS "{env.db_name}" WITH (FORCE)')
    pg_admin(env, f'CREATE DATABASE "{env.db_name}"')
    redis_flush(env.redis_url)
    env.env = server_env(
        database_url=env.database_url,
        redis_url=env.redis_url,
        data_dir=env.data_dir,
        # The layout measured since the first run: two web workers (serve's default is one).
        WEB_WORKERS=os.environ.get("WEB_WORKERS", "2"),
    )
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
        [sys.executable, "-c", code],
        input=json.dumps([a for _, a, _ in AGENTS]),
        env=env.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    parsed: list[dict[str, object]] = json.loads(proc.stdout)
    bots = [a for (_, a, _), p in zip(AGENTS, parsed, strict=True) if p["is_bot"]]
    if bots:
        raise SystemExit(f"the app classifies bench user agents as bots: {bots}")
    return parsed


def db_counts(env: Env) -> tuple[int, int, int]:
    """(events stored, events counted as dropped, sessions)."""
    ((events,),) = pg_query(env, "SELECT count(*) FROM tracking_event")
    ((dropped,),) = pg_query(env, "SELECT coalesce(sum(count), 0) FROM tracking_dropcount")
    ((sessions,),) = pg_query(env, "SELECT count(*) FROM tracking_session")
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


class Server:
    """``simple-analytics serve --no-jobs`` on ``env`` (``jobs``: with its job consumer and
    scheduler, so refresh jobs and rollups run during the load), in its own process group."""

    def __init__(self, env: Env, log_dir: Path, *, jobs: bool = False) -> None:
        self.env = env
        self.log_dir = log_dir
        self.jobs = jobs
        self.proc: Proc | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / "server.log"

    def start(self) -> None:
        jobs = [] if self.jobs else ["--no-jobs"]
        argv = [CLI, "serve", *jobs, "--host", HOST, "--port", str(self.env.port)]
        self.proc = Proc("server", argv, self.env.env, self.log_dir)
        self.proc.start()
        try:
            wait_http(self.env.port, timeout=60, alive=self.proc.alive)
        except RuntimeError as exc:
            raise SystemExit(f"{exc}:\n{self.log_tail()}") from None
        # Every web worker up: wait until the expected number of worker processes exist.
        want = int(self.env.env.get("WEB_WORKERS", "2"))
        deadline = time.monotonic() + 30
        while len(self.workers()) < want and time.monotonic() < deadline:
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def log_tail(self, n: int = 4000) -> str:
        return self.proc.log_text()[-n:] if self.proc else ""

    def pids(self) -> list[int]:
        return tree(self.proc.pid) if self.alive() and self.proc else []

    def workers(self) -> list[int]:
        """The granian worker processes (children of the granian main process)."""
        roles = self.proc.roles() if self.proc else {}
        return sorted(pid for pid, role in roles.items() if role == "granian-worker")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=15)
