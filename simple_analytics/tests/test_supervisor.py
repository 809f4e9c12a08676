"""The `serve` supervisor stops every process when one exits and passes its exit code on."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from simple_analytics.supervisor import run, split


def test_split_reads_commands_between_separators():
    assert split(["--", "a", "-x", "--", "b"]) == [["a", "-x"], ["b"]]


def test_when_one_process_fails_the_others_are_stopped(tmp_path):
    marker = tmp_path / "stopped"
    sleeper = [sys.executable, "-c",
               "import signal, sys, time, pathlib\n"
               f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).touch(),"
               " sys.exit(0)))\n"
               "time.sleep(60)"]  # fmt: skip
    failing = [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"]
    assert run([sleeper, failing]) == 3
    assert marker.exists()  # got SIGTERM, finished cleanly


def test_a_second_sigterm_stops_a_slow_child_at_once_without_a_traceback(tmp_path):
    ready = tmp_path / "ready"
    stubborn = [sys.executable, "-c",
                "import signal, time, pathlib\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                f"pathlib.Path({str(ready)!r}).touch()\n"
                "time.sleep(60)"]  # fmt: skip
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
