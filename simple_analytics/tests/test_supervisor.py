"""The `serve` supervisor stops every process when one exits and passes its exit code on."""

from __future__ import annotations

import sys

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
