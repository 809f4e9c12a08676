"""A small process supervisor for ``simple-analytics serve`` (no Django imported: ~10 MB).

``serve`` migrates, then replaces itself with this module, which starts the given commands
(the web server and the job consumer), stops all of them when one exits or on
SIGTERM/SIGINT, and exits with the first failure's code. A second SIGTERM/SIGINT kills
every command and the processes it started at once.

    python -m simple_analytics.supervisor -- CMD1 ARGS... -- CMD2 ARGS...
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def split(argv: list[str]) -> list[list[str]]:
    commands: list[list[str]] = []
    for arg in argv:
        if arg == "--":
            commands.append([])
        elif commands:
            commands[-1].append(arg)
    return [c for c in commands if c]


def ppid_map() -> dict[int, int]:
    """pid -> parent pid of every process (Linux ``/proc``; empty elsewhere)."""
    out = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else []:
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    out[int(entry.name)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass  # gone meanwhile
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    children: dict[int, list[int]] = {}
    for child, parent in ppid_map().items():
        children.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def run(commands: list[list[str]]) -> int:
    procs = [subprocess.Popen(cmd) for cmd in commands]

    def kill_tree(p: subprocess.Popen[bytes]) -> None:
        """SIGKILL to a command and everything it started: killing granian's main process
        alone left its worker running with no parent (the soak sent two SIGTERMs)."""
        if p.poll() is not None:
            return
        for pid in [*descendants(p.pid), p.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        code = next(p.returncode for p in procs if p.returncode is not None) or 1
        print("a server process exited; stopping the others", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:

        def force(signum: int, frame: object) -> None:
            # A second SIGTERM or Ctrl+C while the children finish: stop them now (and
            # no traceback from this process).
            for p in procs:
                kill_tree(p)

        signal.signal(signal.SIGTERM, force)
        signal.signal(signal.SIGINT, force)
        for p in procs:
            if p.poll() is None:
                p.terminate()  # both finish in-flight work on SIGTERM
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_tree(p)
                p.wait()
    return code


if __name__ == "__main__":
    sys.exit(run(split(sys.argv[1:])))
