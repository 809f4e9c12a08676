"""A fresh install from the command line, as real processes in an empty data directory:
``createuser`` without a terminal says how to pass the password (no traceback), reads it
from standard input when asked to, ``site add`` prints a snippet on ``BASE_URL``, and the
default ``serve`` starts without printing a warning."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "simple_analytics"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_a_fresh_install_from_the_command_line_fails_nothing_silently(tmp_path: Path):
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATA_DIR": str(tmp_path),
        "PORT": str(port),
        "BASE_URL": "https://stats.example.org",
    }
    subprocess.run([*CLI, "migrate", "-v0"], env=env, check=True)

    # No terminal (a script, a container's exec without -t): a clear message, no traceback.
    bare = subprocess.run(
        [*CLI, "createuser", "ops@example.com"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert bare.returncode != 0
    assert "Traceback" not in bare.stderr and "EOFError" not in bare.stderr
    assert "--password PASSWORD" in bare.stderr and "--password-stdin" in bare.stderr

    subprocess.run(
        [*CLI, "createuser", "ops@example.com", "--password-stdin"],
        env=env,
        input="correct-horse-9x\n",
        check=True,
        capture_output=True,
        text=True,
    )
    added = subprocess.run(
        [*CLI, "site", "add", "127.0.0.1:3000", "--owner", "ops@example.com"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    site = re.search(r"tracking id: (\S+)", added.stdout)
    assert site is not None, added.stdout
    assert added.stdout.splitlines()[-1] == (
        '<script defer src="https://stats.example.org/pixel.js" '
        f'data-site="{site.group(1)}" data-allow-localhost></script>'
    )
    assert added.stderr == ""

    # The default start prints the address and nothing else.
    server = subprocess.Popen(
        [*CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            assert server.poll() is None, "serve stopped"
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.2)
        time.sleep(1)  # what a worker logs just after it starts
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert f"running at http://localhost:{port}/" in output
    assert not re.search(r"warn", output, flags=re.IGNORECASE), output
    assert "Traceback" not in output, output
