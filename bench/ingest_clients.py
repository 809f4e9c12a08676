"""The load clients of ``bench/ingest.py``: wrk with ``bench/ingest.lua`` (the default)
and a multi-process asyncio client in Python.

Both replay the pre-generated requests of a file (``bench.traffic.write_events``) from a
given line, stop sending at the end of the duration and let the requests in flight finish,
so that every request the server received has its answer counted.
"""

from __future__ import annotations

import array
import asyncio
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.traffic import AGENTS, post_request, read_events
from systemtests.harness import HOST

LUA = Path(__file__).resolve().parent / "ingest.lua"


@dataclass
class ClientResult:
    requests: int = 0  # answered
    ok: int = 0  # 2xx
    non2xx: int = 0
    socket_errors: int = 0
    socket_detail: str = ""  # e.g. "read 3, timeout 1"
    sent: int = 0
    active_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing the Debian package `wrk` (apt-get install -y wrk)")
        proc = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True)
        path = shutil.which("wrk")
    if not path:
        raise SystemExit(
            "wrk is required for --client wrk: install the Debian package `wrk` "
            "(apt-get install -y wrk), or use --client python"
        )
    return path


def run_wrk(
    port: int, mode: str, data: Path, *, conns: int, duration: float, threads: int, start: int = 0
) -> ClientResult:
    threads = max(1, min(threads, conns))
    # Answers still in flight at the end of the duration get this long; a request still
    # unanswered when wrk stops counts as "never answered". wrk's --timeout is set beyond
    # the whole run: it would also count a connection parked after the deadline whose last
    # request started more than --timeout ago, and slow answers show in the latencies.
    grace = 10
    timeout = int(duration + grace + 5)
    limits = ["-t", str(threads), "-c", str(conns), "-d", f"{int(duration + grace)}s"]
    limits += ["--timeout", f"{timeout}s"]
    script = ["-s", str(LUA), f"http://{HOST}:{port}", "--", mode, str(data), str(duration)]
    cmd = [wrk_path(), *limits, *script, str(threads), str(start)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + grace + 60)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(lines[-1])
    e = r["errors"]
    lat = r["latency_us"]
    return ClientResult(
        requests=r["requests"],
        ok=r["requests"] - e["status"],  # wrk counts status >= 400; there are no 3xx here
        non2xx=e["status"],
        socket_errors=e["connect"] + e["read"] + e["write"] + e["timeout"],
        socket_detail=", ".join(
            f"{k} {e[k]}" for k in ("connect", "read", "write", "timeout") if e[k]
        ),
        sent=r["sent"],
        active_s=r["active_s"] or duration,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
    )


def _raw_requests(port: int, mode: str, data: Path) -> list[bytes]:
    if mode == "noop":
        head = f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: {AGENTS[4][1]}"
        return [f"{head}\r\n\r\n".encode("latin-1")]
    return [post_request(port, ua, ip, body.encode(), HOST) for ua, ip, body in read_events(data)]


async def _py_connection(
    reqs: list[bytes],
    pos: list[int],
    stride: int,
    port: int,
    start: float,
    deadline: float,
    stats: dict[str, Any],
) -> None:
    lat: array.array[float] = stats["lat"]
    loop = asyncio.get_running_loop()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while loop.time() < deadline:
        if reader is None:
            try:
                reader, writer = await asyncio.open_connection(HOST, port)
            except OSError:
                stats["socket_errors"] += 1
                await asyncio.sleep(0.05)
                continue
            if loop.time() < start:
                await asyncio.sleep(start - loop.time())
            if loop.time() >= deadline:
                break
        req = reqs[pos[0]]
        pos[0] = (pos[0] + stride) % len(reqs)
        t0 = time.perf_counter()
        if not stats["first"]:
            stats["first"] = time.monotonic()
        stats["sent"] += 1
        assert reader is not None and writer is not None
        try:
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            low = head.lower()
            i = low.find(b"\r\ncontent-length:")
            if i >= 0:
                n = int(low[i + 17 : low.index(b"\r\n", i + 2)])
                if n:
                    await reader.readexactly(n)
            elif b"transfer-encoding: chunked" in low:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            stats["socket_errors"] += 1
            writer.close()
            reader = writer = None
            continue
        lat.append(time.perf_counter() - t0)
        stats["requests"] += 1
        if 200 <= status < 300:
            stats["ok"] += 1
        else:
            stats["non2xx"] += 1
    if writer is not None:
        writer.close()


def _py_client_process(
    port: int,
    mode: str,
    data: str,
    conns: int,
    first: int,
    stride: int,
    start: float,
    duration: float,
    out: mp.Queue[dict[str, Any]],
) -> None:
    reqs = _raw_requests(port, mode, Path(data))
    pos = [first % len(reqs)]
    stats: dict[str, Any] = {
        "lat": array.array("d"),
        "requests": 0,
        "ok": 0,
        "non2xx": 0,
        "socket_errors": 0,
        "sent": 0,
        "first": 0.0,
    }

    async def main() -> None:
        # time.monotonic() and the loop clock are both CLOCK_MONOTONIC on Linux.
        tasks = [
            asyncio.create_task(
                _py_connection(reqs, pos, stride, port, start, start + duration, stats)
            )
            for _ in range(conns)
        ]
        done, pending = await asyncio.wait(tasks, timeout=start + duration + 10 - time.monotonic())
        for t in pending:  # still waiting for an answer 10 s after the end: never answered
            t.cancel()

    asyncio.run(main())
    lat = stats.pop("lat")
    out.put({**stats, "lat": lat.tobytes()})


def run_python(
    port: int, mode: str, data: Path, *, conns: int, duration: float, procs: int, start: int = 0
) -> ClientResult:
    """Like run_wrk: process k of P sends events start+k, start+k+P, ... over its share of
    the connections (asyncio, keep-alive, raw HTTP/1.1), stops sending at the end of the
    duration and waits up to 10 s for the answers still in flight."""
    procs = max(1, min(procs, conns))
    ctx = mp.get_context("fork")
    out: mp.Queue[dict[str, Any]] = ctx.Queue()
    t_start = time.monotonic() + 1.5  # time to load requests and connect
    workers = []
    for k in range(procs):
        share = conns // procs + (1 if k < conns % procs else 0)
        p = ctx.Process(
            target=_py_client_process,
            args=(port, mode, str(data), share, start + k, procs, t_start, duration, out),
            daemon=True,  # never outlives the bench
        )
        p.start()
        workers.append(p)
    parts = [out.get(timeout=duration + 60) for _ in workers]
    for p in workers:
        p.join()
    lat = array.array("d")
    for part in parts:
        lat.frombytes(part["lat"])
    lat_sorted = sorted(lat)

    def pct(q: float) -> float:
        if not lat_sorted:
            return 0.0
        return lat_sorted[min(len(lat_sorted) - 1, int(q / 100 * len(lat_sorted)))] * 1000

    firsts = [p["first"] for p in parts if p["first"]]
    # The offered-load window runs from the first request to the deadline, even if the
    # server stalled in between.
    return ClientResult(
        requests=sum(p["requests"] for p in parts),
        ok=sum(p["ok"] for p in parts),
        non2xx=sum(p["non2xx"] for p in parts),
        socket_errors=sum(p["socket_errors"] for p in parts),
        sent=sum(p["sent"] for p in parts),
        active_s=(t_start + duration - min(firsts)) if firsts else duration,
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        max_ms=lat_sorted[-1] * 1000 if lat_sorted else 0.0,
    )


def run_client(
    client: str,
    port: int,
    mode: str,
    data: Path,
    *,
    conns: int,
    duration: float,
    threads: int,
    procs: int,
    start: int = 0,
) -> ClientResult:
    """``client`` "wrk" (``threads`` threads) or "python" (``procs`` processes)."""
    if client == "wrk":
        return run_wrk(
            port, mode, data, conns=conns, duration=duration, threads=threads, start=start
        )
    return run_python(port, mode, data, conns=conns, duration=duration, procs=procs, start=start)
