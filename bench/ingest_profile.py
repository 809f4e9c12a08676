"""The ``--profile`` part of ``bench/ingest.py``: py-spy on one granian worker under
ingest load, reported by landmark function and by self and inclusive time."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench.ingest_clients import run_client
from bench.ingest_server import Env, Server
from systemtests.harness import VENV_BIN

# Where the time of a request goes, by landmark function (inclusive of what it calls).
LANDMARKS: list[tuple[str, tuple[str, ...]]] = [
    (
        "request threads (granian's WSGI callback)",
        ("_callback_wrapper.<locals>._runner (granian/wsgi.py)",),
    ),
    ("  Django handler + middleware", ("WSGIHandler.__call__ (django/core/handlers/wsgi.py)",)),
    ("  collect()", ("collect (tracking/views.py)", "collect (tracking/collect.py)")),
    (
        "    payload read + parse",
        ("read_body (tracking/payload.py)", "parse (tracking/payload.py)"),
    ),
    ("    tracked_site_get", ("tracked_site_get (websites/selectors.py)",)),
    ("    client_ip (X-Forwarded-For)", ("client_ip (core/net.py)",)),
    ("    pipeline.run (UA, referrer, UTM, visitor id)", ("run (tracking/pipeline.py)",)),
    (
        "    GroupCommitter.submit (hand-off + wait)",
        ("GroupCommitter.submit (tracking/groupcommit.py)",),
    ),
    ("writer thread(s): GroupCommitter._run", ("GroupCommitter._run (tracking/groupcommit.py)",)),
    ("  write_events", ("write_events (tracking/writer.py)",)),
    ("    batch read (lock, dedup probe, sessions)", ("_PgBatch.read (tracking/statements.py)",)),
    ("    batch write (inserts, update, COMMIT)", ("_PgBatch.write (tracking/statements.py)",)),
    ("    Session bulk_update (ORM)", ("QuerySet.bulk_update (django/db/models/query.py)",)),
    ("    bulk_create (ORM)", ("QuerySet.bulk_create (django/db/models/query.py)",)),
    ("  on_commit: request_refresh", ("request_refresh (jobs/tasks.py)",)),
    (
        "psycopg pipeline protocol (executemany)",
        ("BasePipeline._communicate_gen (psycopg/_pipeline_base.py)",),
    ),
    ("psycopg waiting for PostgreSQL", ("Connection.wait (psycopg/connection.py)",)),
]


def profile(env: Env, server: Server, args: argparse.Namespace, data: Path, out_dir: Path) -> str:
    """py-spy on one granian worker during ingest load at the top concurrency.

    Two recordings of the same 10 s: ``--gil`` samples only the thread holding the GIL,
    i.e. where the worker's Python CPU time goes; the other samples every thread that is
    not idle, which also shows where requests wait.
    """
    spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if not spy:
        return "py-spy not installed (.venv/bin/pip install py-spy): no profile"
    workers = server.workers()
    if not workers:
        return "no granian worker found: no profile"
    conns = max(args.concurrency)
    secs = 10
    client = mp.get_context("fork").Process(
        target=_profile_client, args=(env.port, data, conns, secs + 5, args, env.cursor)
    )
    client.start()
    time.sleep(2.5)
    base = [spy, "record", "--pid", str(workers[0]), "--duration", str(secs), "--nonblocking"]
    outputs = {"gil": out_dir / "profile-gil.txt", "all": out_dir / "profile-all.txt"}
    cmds = [
        base + ["--gil", "--rate", "100", "--format", "raw", "-o", str(outputs["gil"])],
        base + ["--rate", "50", "--format", "raw", "-o", str(outputs["all"])],
    ]
    if args.profile_svg:
        cmds.append(base + ["--gil", "--rate", "100", "-o", str(args.profile_svg)])
    spies = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in cmds]
    logs = [p.communicate(timeout=secs + 60)[0].decode(errors="replace") for p in spies]
    client.join()
    for p, log, path in zip(spies, logs, outputs.values(), strict=False):
        if p.returncode != 0 or not path.exists():
            return f"py-spy failed: {log[-2000:]}"
    if args.profile_raw:
        args.profile_raw.mkdir(parents=True, exist_ok=True)
        for path in outputs.values():
            shutil.copy(path, args.profile_raw / path.name)
    gil = outputs["gil"].read_text()
    every = outputs["all"].read_text()
    return "\n".join(
        [
            f"py-spy {secs} s on granian worker pid {workers[0]}, ingest at c={conns}",
            "",
            "== with the GIL (where the worker's Python CPU time goes) ==",
            collapsed_report(gil, top=args.profile_top),
            "",
            "== every non-idle thread (includes threads blocked in waits) ==",
            landmark_report(every),
        ]
    )


def _profile_client(
    port: int, data: Path, conns: int, secs: float, args: argparse.Namespace, start: int
) -> None:
    run_client(
        args.client,
        port,
        "ingest",
        data,
        conns=conns,
        duration=secs,
        threads=args.threads,
        procs=args.procs,
        start=start,
    )


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "collect (tracking/views.py:61)"; drop the line number.
    return re.sub(r":\d+\)$", ")", frame.strip())


def _stacks(text: str) -> list[tuple[list[str], int]]:
    out = []
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            out.append(([_frame_name(f) for f in stack.split(";")], int(n)))
    return out


def collapsed_report(text: str, *, top: int = 25) -> str:
    stacks = _stacks(text)
    total = sum(n for _, n in stacks)
    if not total:
        return "py-spy recorded no samples"
    self_t: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, n in stacks:
        self_t[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    lines = [f"{total} samples", "", "by landmark (inclusive):", landmark_report(text), ""]
    lines.append("top functions by self time:")
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in self_t.most_common(top)]
    lines.append("")
    lines.append("top functions by inclusive time:")
    lines += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top)]
    return "\n".join(lines)


def landmark_report(text: str) -> str:
    stacks = _stacks(text)
    total = sum(n for _, n in stacks) or 1
    lines = []
    for label, names in LANDMARKS:
        n = sum(c for frames, c in stacks if any(name in frames for name in names))
        if n:
            lines.append(f"  {100 * n / total:5.1f}%  {label}")
    return "\n".join(lines)
