"""A fresh install as real processes: an empty data directory, the ``simple-analytics``
command and ``serve`` answering on a port of its own (the first-hour and serve tests)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from systemtests.harness import free_port, wait_http

CLI = [sys.executable, "-m", "simple_analytics"]


def fresh_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an install in ``data_dir`` (SQLite, no Redis) on a free port."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATA_DIR": str(data_dir),
        "PORT": str(free_port()),
        **extra,
    }


def run(env: dict[str, str], *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """``simple-analytics ARGS``; output captured as text unless told otherwise."""
    options.setdefault("capture_output", True)
    return subprocess.run([*CLI, *args], env=env, text=True, **options)


@contextlib.contextmanager
def serving(env: dict[str, str], **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """``serve`` started and answering ``/healthz``; killed at the end if still running."""
    server = subprocess.Popen([*CLI, "serve"], env=env, text=True, **popen)
    try:
        wait_http(int(env["PORT"]), timeout=30, alive=lambda: server.poll() is None)
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
