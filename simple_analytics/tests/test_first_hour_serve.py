"""A fresh install from the command line, as real processes in an empty data directory:
``createuser`` without a terminal says how to pass the password (no traceback), reads it
from standard input when asked to, ``site add`` prints a snippet on ``BASE_URL``, and the
default ``serve`` starts without printing a warning."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from simple_analytics.tests.install import fresh_env, run, serving

pytestmark = pytest.mark.slow


def test_a_fresh_install_from_the_command_line_fails_nothing_silently(tmp_path: Path):
    env = fresh_env(tmp_path, BASE_URL="https://stats.example.org")
    port = env["PORT"]
    run(env, "migrate", "-v0", check=True)

    # No terminal (a script, a container's exec without -t): a clear message, no traceback.
    bare = run(env, "createuser", "ops@example.com", stdin=subprocess.DEVNULL)
    assert bare.returncode != 0
    assert "Traceback" not in bare.stderr and "EOFError" not in bare.stderr
    assert "--password PASSWORD" in bare.stderr and "--password-stdin" in bare.stderr

    run(
        env,
        "createuser",
        "ops@example.com",
        "--password-stdin",
        input="pw-9x-correct\n",
        check=True,
    )
    added = run(env, "site", "add", "127.0.0.1:3000", "--owner", "ops@example.com", check=True)
    site = re.search(r"tracking id: (\S+)", added.stdout)
    assert site is not None, added.stdout
    assert added.stdout.splitlines()[-1] == (
        '<script defer src="https://stats.example.org/pixel.js" '
        f'data-site="{site.group(1)}" data-allow-localhost></script>'
    )
    assert added.stderr == ""

    # The default start prints the address and nothing else.
    with serving(env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as server:
        time.sleep(1)  # what a worker logs just after it starts
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert f"running at http://localhost:{port}/" in output
    assert not re.search(r"warn", output, flags=re.IGNORECASE), output
    assert "Traceback" not in output, output
