"""The shared harness of the system tests: the production processes, driven from outside.

Django-free; used by the system tests and by ``bench/``. It holds:

- where things are (``ROOT``, the venv's ``simple-analytics`` CLI) and a log line format;
- ``Proc``: one process of a deployment in its own process group, logging to a file;
- free ports, waiting for an HTTP answer, running the CLI;
- the environment of the production processes and the fixtures a deployment needs
  (a user, websites, a logged-in browser session, an API key);
- a private PostgreSQL cluster and a private ``redis-server`` (never the shared ones);
- ``/proc`` measurement of a deployment: process trees, CPU, memory (also used by
  ``bench/ingest.py``, ``bench/query.py`` and the soak).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from simple_analytics.supervisor import descendants, ppid_map

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "simple-analytics")
HOST = "127.0.0.1"  # the only address the system tests and benchmarks talk to
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def logger(name: str) -> Callable[[str], None]:
    """``log(msg)`` printing ``[name HH:MM:SS] msg``, flushed (the output is a CI log)."""

    def log(msg: str) -> None:
        print(f"[{name} {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    return log


# --- Ports, HTTP, the CLI ----------------------------------------------------------------
def free_port(preferred: int = 0) -> int:
    """``preferred`` if it is free, else a port the system picks."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            port_taken: int = s.getsockname()[1]
            return port_taken
    raise RuntimeError("no free port")


def reachable(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(port: int, host: str = HOST, *, timeout: float = 30) -> None:
    """Until a TCP connection to ``host:port`` opens; RuntimeError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not reachable(port, host):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{host}:{port} did not open within {timeout:.0f} s")
        time.sleep(0.1)


def wait_http(
    port: int,
    path: str = "/healthz",
    *,
    host: str = HOST,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Until ``GET path`` answers 200; RuntimeError after ``timeout`` or, given ``alive``,
    as soon as it says the server exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"the server on port {port} exited at start")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", path, headers=headers or {})
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no answer on {host}:{port} within {timeout:.0f} s")


def pgbouncer_config(
    home: Path, *, databases: dict[str, str], listen: str, port: int, pool_size: int, clients: int
) -> Path:
    """Write ``pgbouncer.ini`` (transaction mode, a reset after every transaction, trust) and
    its users file into ``home``, which the postgres user must be able to read."""
    (home / "users.txt").write_text('"postgres" ""\n')
    lines = ["[databases]", *(f"{name} = {target}" for name, target in databases.items())]
    lines += [
        "[pgbouncer]",
        f"listen_addr = {listen}",
        f"listen_port = {port}",
        "unix_socket_dir =",
        "auth_type = trust",
        f"auth_file = {home / 'users.txt'}",
        "pool_mode = transaction",
        f"default_pool_size = {pool_size}",
        f"max_client_conn = {clients}",
        "server_reset_query = DISCARD ALL",
        "server_reset_query_always = 1",
        f"logfile = {home / 'pgbouncer.log'}",
    ]
    ini = home / "pgbouncer.ini"
    ini.write_text("\n".join(lines) + "\n")
    return ini


def cli(
    env: dict[str, str],
    *args: str,
    check: bool = True,
    timeout: float | None = 300,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``simple-analytics ARGS`` with ``env`` (``timeout`` None: no limit); RuntimeError,
    with the end of its stderr, when it fails."""
    proc = subprocess.run(
        [CLI, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"simple-analytics {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


# --- The deployment's environment and fixtures --------------------------------------------
def server_env(
    *, database_url: str, redis_url: str, data_dir: Path, host: str = HOST, **extra: str
) -> dict[str, str]:
    """The production settings on these services; ``extra`` adds or overrides variables."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(data_dir),
        "TRUSTED_PROXIES": f"{host}/32",
        "DEBUG": "False",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # The code next to these files (a checkout or an exported snapshot), whatever the
        # venv's editable install points to.
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        **extra,
    }
    env.pop("TESTING", None)
    return env


def fixture_code(email: str, domains: list[str], allowed_hostnames: str = "") -> str:
    """Python for ``simple-analytics shell -c``; its last line of output is what
    ``fixture_from`` reads."""
    return (
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from api.models import ApiKey\n"
        "from websites.services import website_create\n"
        f"u = get_user_model().objects.create_user(username={email!r}, email={email!r}, "
        f"password={secrets.token_urlsafe(16)!r})\n"
        f"sites = {{d: website_create(owner=u, domain=d, allowed_hostnames={allowed_hostnames!r})"
        f" for d in {domains!r}}}\n"
        "s = SessionStore(); s['_auth_user_id'] = str(u.pk)\n"
        "s['_auth_user_backend'] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s['_auth_user_hash'] = u.get_session_auth_hash(); s.create()\n"
        "print(json.dumps({'sites': {d: [w.tracking_id, w.pk] for d, w in sites.items()}, "
        "'session': s.session_key, 'key': ApiKey.issue(user=u, name='fixture')[1]}))\n"
    )


def fixture_from(output: str) -> dict[str, Any]:
    """``{"sites": {domain: [tracking id, pk]}, "session": key, "key": API key}``."""
    made: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return made


# --- One process of the deployment --------------------------------------------------------
class Proc:
    """A command in its own process group, logging to ``logdir/name.log``.

    ``terminate()`` sends SIGTERM to the main process once per start, as a service manager
    does (a second one tells ``serve``'s supervisor to kill everything at once); ``kill()``
    sends SIGKILL to the whole group.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.logpath = logdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []
        self._log: IO[bytes] | None = None
        self._terminated = False

    def start(self) -> None:
        self._log = open(self.logpath, "ab")  # closed in wait() or kill()
        self._log.write(f"\n=== start {time.strftime('%H:%M:%S')} ===\n".encode())
        self._log.flush()
        self._terminated = False
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        if self.alive() and not self._terminated:
            self._terminated = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after ``timeout``."""
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_codes.append(code)
        self._close_log()
        return code

    def stop(self, timeout: float = 30) -> int | None:
        """``terminate()``, then ``kill()`` if it has not exited within ``timeout``."""
        self.terminate()
        code = self.wait(timeout)
        if code is None:
            self.kill()
        return code

    def kill(self) -> None:
        """SIGKILL to everything in the process group (also the clean-up at the end)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        try:
            return self.logpath.read_text(errors="replace")
        except OSError:
            return ""

    def roles(self) -> dict[int, str]:
        """pid -> role in this process tree: main (``serve``'s supervisor or a worker),
        granian, granian-worker, child."""
        if not self.alive():
            return {}
        return {
            pid: {0: "main", 1: "granian", 2: "granian-worker"}.get(depth, "child")
            for pid, depth in tree_depths(self.pid).items()
        }


# --- Private PostgreSQL and Redis ---------------------------------------------------------
def private_services_missing() -> list[str]:
    """What ``PrivatePostgres`` and ``PrivateRedis`` need and this machine lacks."""
    missing = [str(PG_BIN / b) for b in ("initdb", "pg_ctl") if not (PG_BIN / b).exists()]
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        missing.append("runuser")
    return missing


class PrivatePostgres:
    """A throw-away cluster: initdb into ``root/pg``, its own port and socket directory.
    ``durable`` keeps PostgreSQL's defaults for fsync and full-page writes (WAL measures)."""

    def __init__(self, root: Path, port: int, *, durable: bool = False, name: str = "pg") -> None:
        self.durable = durable
        self.dir = root / name
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.logfile = self.dir / "postgres.log"
        self.port = port

    def _run(self, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = list(cmd)
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            argv = ["runuser", "-u", "postgres", "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def _dirs(self) -> None:
        self.dir.mkdir()
        self.sock.mkdir()
        if os.geteuid() == 0:
            for path in (self.dir, self.sock):
                shutil.chown(path, "postgres", "postgres")

    def _own_settings(self) -> str:
        # Appended last, so a replica's copy of its primary's file takes its own values.
        return (
            f"\nport = {self.port}\nunix_socket_directories = '{self.sock}'\n"
            "logging_collector = off\n"
        )

    def init(self, *, listen: str = HOST, extra_conf: str = "", hba: str = "") -> None:
        """initdb; ``listen`` is ``listen_addresses``, ``extra_conf`` more settings and
        ``hba`` more ``pg_hba.conf`` lines."""
        self._dirs()
        options = "-U postgres --auth=trust -E UTF8 --no-sync".split()
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), *options)
        conf = (
            f"\nlisten_addresses = '{listen}'\nshared_buffers = 32MB\n"
            f"max_connections = 100\n{extra_conf}{self._own_settings()}"
        )
        if not self.durable:
            # Throw-away and stopped cleanly ("fast") by the tests: durability against
            # power loss buys nothing, and fsyncs slow the set-up on a busy disk.
            conf += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(conf)
        if hba:
            with open(self.data / "pg_hba.conf", "a") as f:
                f.write(hba)

    def replica_of(self, primary: PrivatePostgres) -> None:
        """A streaming standby of the running ``primary`` (``pg_basebackup -R``)."""
        self._dirs()
        self._run(
            str(PG_BIN / "pg_basebackup"),
            *("-h", HOST, "-p", str(primary.port), "-U", "postgres", "-D", str(self.data)),
            *("-R", "-X", "stream", "--checkpoint=fast"),  # else a spread checkpoint: minutes
        )
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(self._own_settings())

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args)

    def start(self) -> None:
        self._pg_ctl("-l", str(self.logfile), "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def dsn(self, db: str) -> str:
        return f"host={HOST} port={self.port} user=postgres dbname={db}"

    def url(self, db: str) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{db}"


class PrivateRedis:
    """A ``redis-server`` without persistence on its own port; ``start()`` after
    ``stop()`` gives an empty one."""

    def __init__(self, root: Path, port: int) -> None:
        self.port = port
        self.dir = root / "redis"
        self.dir.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = ["redis-server", "--port", str(self.port), "--bind", HOST, "--dir", str(self.dir)]
        argv += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        with open(self.dir / "redis.log", "ab") as logfile:
            self.proc = subprocess.Popen(
                argv, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if reachable(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"


# --- /proc measurement --------------------------------------------------------------------
TICK = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    return [pid, *descendants(pid)]


def tree_depths(pid: int) -> dict[int, int]:
    """``pid`` (depth 0) and every process below it, with its depth under ``pid``."""
    children: dict[int, list[int]] = {}
    for child, parent in ppid_map().items():
        children.setdefault(parent, []).append(child)
    depth = {pid: 0}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child in children.get(parent, []):
            depth[child] = depth[parent] + 1
            todo.append(child)
    return depth


def cmdline(pid: int) -> str:
    """The command line of ``pid``, space-separated; "" if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def group_members(pgid: int) -> list[int]:
    """Every process in the process group ``pgid`` (a killed parent's children stay in it)."""
    out = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[2]) == pgid:
                        out.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass  # gone meanwhile
    return out


def _status_kb(path: str, field: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kb(pid: int) -> int | None:
    """Resident set size in KiB; None if the process is gone."""
    return _status_kb(f"/proc/{pid}/status", "VmRSS:")


def pss_kb(pid: int) -> int | None:
    """Proportional set size in KiB (shared pages split among their users)."""
    return _status_kb(f"/proc/{pid}/smaps_rollup", "Pss:")


def proc_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``pids`` that still exists."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two ``proc_cpu`` readings: all of it for processes started in
    between (pooled database connections come and go); exited ones are not counted."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def postgres_pids(db_name: str) -> list[int]:
    """The backends serving ``db_name``, and the WAL writer and background writer."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            cmd = cmdline(int(entry))
            if cmd.startswith("postgres: ") and (
                f" {db_name} " in cmd or "walwriter" in cmd or "background writer" in cmd
            ):
                out.append(int(entry))
    return out


def machine_cpu() -> float:
    """Busy seconds of all cores since boot (every process, ours and others')."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    return (sum(vals[:8]) - vals[3] - vals[4]) / TICK  # minus idle and iowait; no guest


def children_cpu() -> float:
    """CPU seconds used by this process's waited-for children."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime
