"""The `serve` supervisor stops every process when one exits and passes its exit code on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from simple_analytics.supervisor import run, split

pytestmark = pytest.mark.slow


def test_split_reads_commands_between_separators():
    assert split(["--", "a", "-x", "--", "b"]) == [["a", "-x"], ["b"]]


def test_when_one_process_fails_the_others_are_stopped(tmp_path):
    marker = tmp_path / "stopped"
    sleeper = [
        sys.executable,
        "-c",
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).touch(),"
        " sys.exit(0)))\n"
        "time.sleep(60)",
    ]
    failing = [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"]
    assert run([sleeper, failing]) == 3
    assert marker.exists()  # got SIGTERM, finished cleanly


def test_a_second_sigterm_stops_a_slow_child_at_once_without_a_traceback(tmp_path):
    ready = tmp_path / "ready"
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "time.sleep(60)",
    ]
    argv = [sys.executable, "-m", "simple_analytics.supervisor", "--", *stubborn]
    supervisor = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    supervisor.send_signal(signal.SIGTERM)  # the child ignores it: the supervisor waits
    time.sleep(0.5)
    assert supervisor.poll() is None
    started = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    _, stderr = supervisor.communicate(timeout=10)
    assert time.monotonic() - started < 5
    assert "Traceback" not in stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _tree(tmp_path, *, child_stops: bool) -> list[str]:
    """A command that starts a worker of its own (as granian's main process does); the
    worker ignores SIGTERM. The command itself stops on SIGTERM when ``child_stops``."""
    pids = tmp_path / "worker.pid"
    code = (
        "import os, signal, subprocess, sys, time, pathlib\n"
        "w = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"pathlib.Path({str(pids)!r}).write_text(str(w.pid))\n"
        + ("" if child_stops else "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n")
        + "time.sleep(60)\n"
    )
    return [sys.executable, "-c", code]


def _start(argv: list[str], pid_file) -> tuple[subprocess.Popen, int]:
    supervisor = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the worker has set its signal handler
    return supervisor, int(pid_file.read_text())


def test_a_second_sigterm_kills_the_workers_of_a_command_too(tmp_path):
    argv = [
        sys.executable,
        "-m",
        "simple_analytics.supervisor",
        "--",
        *_tree(tmp_path, child_stops=False),
    ]
    supervisor, worker = _start(argv, tmp_path / "worker.pid")
    supervisor.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    supervisor.send_signal(signal.SIGTERM)  # e.g. a service manager, or the soak, again
    supervisor.communicate(timeout=10)
    time.sleep(0.2)
    assert not _alive(worker)
