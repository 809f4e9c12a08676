"""`serve` with one web worker (the SQLite default): the jobs run as threads of that worker.

The real command, in its own data directory: granian and its one worker are the only
processes, an event's refresh job runs (it records the site's first event), and SIGTERM
stops it all.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from simple_analytics.testing import DESKTOP_UA
from simple_analytics.tests.install import fresh_env, run, serving

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[str]:
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def _wait(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_serve_with_one_worker_runs_the_jobs_in_it_and_stops_on_sigterm(tmp_path: Path):
    env = fresh_env(tmp_path, REFRESH_DEBOUNCE_SECONDS="1")  # SQLite, no Redis: the default
    port = env["PORT"]
    run(env, "migrate", "-v0", check=True)
    run(env, "createuser", "a@example.com", "--password", "correct-horse-9x", check=True)
    added = run(env, "site", "add", "example.com", "--owner", "a@example.com", check=True)
    site = added.stdout.split("tracking id:")[1].split()[0]
    with serving(env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as server:
        # `serve` became granian itself: its one child is the web worker, no job consumer.
        children = _children(server.pid)
        assert len(children) == 1 and "granian" in children[0], children
        body = {"site": site, "type": "PAGE_VIEW", "url": "https://example.com/"}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/event",
            data=json.dumps(body).encode(),
            headers={"User-Agent": DESKTOP_UA, "Content-Type": "text/plain"},
        )
        assert urllib.request.urlopen(request).status == 202

        def refreshed() -> bool:
            with sqlite3.connect(tmp_path / "db.sqlite3") as db:
                row = db.execute(
                    "SELECT first_event_at FROM websites_website WHERE tracking_id = ?", [site]
                ).fetchone()
            return row is not None and row[0] is not None

        assert _wait(refreshed, 30), "the refresh job did not run"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)  # stops, with its worker, well before a kill would
        assert _children(server.pid) == []
        stderr = server.stderr.read() if server.stderr else ""
    assert "Traceback" not in stderr, stderr


class _Exec(Exception):
    pass


def _serve_argv(monkeypatch, settings, *args: str) -> list[str]:
    """What `serve` would exec (it replaces its process), without running it."""
    import pytest
    from django.core.management import call_command

    seen: list[str] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        seen.extend(argv)
        raise _Exec

    monkeypatch.setattr(os, "execv", fake_execv)
    # `serve` hands settings to the processes it starts through the environment.
    monkeypatch.delenv("WEB_THREADS", raising=False)
    monkeypatch.delenv("SIMPLE_ANALYTICS_JOBS_IN_WEB", raising=False)
    with pytest.raises(_Exec):
        call_command("serve", "--no-migrate", *args)
    return seen


def test_serve_layout_follows_the_worker_count(monkeypatch, settings):
    import pytest
    from django.core.management.base import CommandError

    settings.JOBS_IN_WEB = None  # the default: unset
    one = _serve_argv(monkeypatch, settings)
    assert "granian" in one and "simple_analytics.supervisor" not in one  # jobs in the worker
    two = _serve_argv(monkeypatch, settings, "--workers", "2")
    assert "simple_analytics.supervisor" in two  # granian and a consumer process
    assert two[two.index("--workers") + 1] == "2"
    assert "worker" in two and "--scheduler" in two
    # Asked for explicitly, jobs in the web worker need exactly one worker.
    settings.JOBS_IN_WEB = True
    with pytest.raises(CommandError, match="one web worker"):
        _serve_argv(monkeypatch, settings, "--workers", "2")


def test_serve_puts_the_front_before_the_application_with_its_deadlines(monkeypatch, settings):
    settings.REQUEST_HEADER_TIMEOUT_SECONDS = 2.5
    argv = _serve_argv(monkeypatch, settings, "--threads", "7")
    assert argv[argv.index("--interface") + 1] == "rsgi"
    assert argv[-1] == "simple_analytics.front:app"  # which runs simple_analytics.wsgi
    assert argv[argv.index("--http1-header-read-timeout") + 1] == "2500"  # milliseconds
    assert os.environ["WEB_THREADS"] == "7"  # the front's thread pool in each worker
