"""The app through a real PgBouncer in transaction mode, as the scale-out layout runs it.

Debian's PgBouncer (1.18) keeps no prepared statements in ``pool_mode = transaction``: a
client's next transaction may run on another server connection. Here every transaction
ends with ``DISCARD ALL``, so a statement prepared in one is gone in the next, whichever
server connection follows. With ``DATABASE_PREPARED_STATEMENTS=False`` the writer, the
rollups and the reads all work; with the default, an import fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from simple_analytics.testing import DESKTOP_UA
from systemtests.harness import (
    HOST,
    cli,
    fixture_code,
    fixture_from,
    free_port,
    pgbouncer_config,
    reachable,
)
from systemtests.harness import server_env as base_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

POSTGRES = "postgres://postgres@127.0.0.1:5432"
DAY = dt.date(2026, 11, 2)
VISITORS = 120


def require_service(name: str, reachable: bool) -> None:
    from conftest import require_service as require

    require(name, reachable)


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(f"{POSTGRES}/postgres", autocommit=True, connect_timeout=2)
    except psycopg.OperationalError:
        require_service("PostgreSQL on 127.0.0.1:5432", False)
        raise


@pytest.fixture
def database() -> Iterator[str]:
    name = f"sa_pgbouncer_{os.getpid()}"
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def bouncer(database: str) -> Iterator[int]:
    """PgBouncer on loopback before that database, transaction mode, a reset after each
    transaction. It refuses to run as root, so it runs as the postgres user then."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    require_service("PgBouncer (Debian package pgbouncer)", os.access(binary, os.X_OK))
    port = free_port()
    # Not under tmp_path: its parents are private to root, and pgbouncer runs as postgres.
    home = Path(tempfile.mkdtemp(prefix="sa-pgbouncer-"))
    home.chmod(0o777)
    ini = pgbouncer_config(
        home,
        databases={database: f"host=127.0.0.1 port=5432 dbname={database}"},
        listen=HOST,
        port=port,
        pool_size=3,
        clients=100,
    )
    command = [binary, str(ini)]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not reachable(port):
            assert proc.poll() is None, f"pgbouncer exited: {proc.stderr and proc.stderr.read()}"
            assert time.monotonic() < deadline, "pgbouncer did not start"
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


def _events(tracking_id: str) -> str:
    lines = []
    for n in range(VISITORS):
        at = dt.datetime.combine(DAY, dt.time(8), dt.UTC) + dt.timedelta(minutes=n)
        for i, path in enumerate(("/", f"/page-{n % 7}")):
            lines.append(
                json.dumps(
                    {
                        "site": tracking_id,
                        "type": "PAGE_VIEW" if i == 0 else "PATH_CHANGE",
                        "url": f"https://example.com{path}",
                        "ts": (at + dt.timedelta(seconds=20 * i)).isoformat(),
                        "ip": f"198.51.{n // 250}.{n % 250 + 1}",
                        "user_agent": DESKTOP_UA,
                    }
                )
            )
    return "\n".join(lines) + "\n"


def test_ingest_rollups_and_reads_work_through_pgbouncer_without_prepared_statements(
    tmp_path: Path, database: str, bouncer: int
) -> None:
    direct = base_env(
        database_url=f"{POSTGRES}/{database}", redis_url="", data_dir=tmp_path / "data"
    )
    cli(direct, "migrate", "--verbosity", "0")
    made = fixture_from(
        cli(direct, "shell", "-c", fixture_code("b@example.com", ["example.com"])).stdout
    )
    tracking_id = made["sites"]["example.com"][0]
    events = tmp_path / "events.ndjson"
    events.write_text(_events(tracking_id))

    pooled = {**direct, "DATABASE_URL": f"postgres://postgres@{HOST}:{bouncer}/{database}"}
    day = ["--from", DAY.isoformat(), "--to", DAY.isoformat()]

    # The default prepares the writer's statements: the next transaction's server
    # connection has none, and the import stops at its first chunk.
    failed = cli(pooled, "import-events", str(events), "--chunk-size", "40", "--quiet", check=False)
    assert failed.returncode != 0
    assert "prepared statement" in failed.stderr

    without = {**pooled, "DATABASE_PREPARED_STATEMENTS": "False"}
    # Start again from empty tables: the failed run stored its first chunk.
    with psycopg.connect(f"{POSTGRES}/{database}", autocommit=True) as db:
        db.execute("TRUNCATE tracking_event, tracking_session CASCADE")
    cli(without, "import-events", str(events), "--chunk-size", "40", "--quiet")
    cli(without, "rollup", *day, "--quiet")
    for _ in range(2):  # the same reads twice: psycopg would prepare a query run often
        found = json.loads(cli(without, "stats", "--site", tracking_id, *day, "--json").stdout)
    assert (found["visitors"], found["sessions"], found["pageviews"]) == (
        VISITORS,
        VISITORS,
        2 * VISITORS,
    )
    assert sum(row["pageviews"] for row in found["pages"]) <= 2 * VISITORS
    assert {row["value"] for row in found["pages"]} >= {"/", "/page-0"}
