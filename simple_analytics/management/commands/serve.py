from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

# Connections one web worker holds (granian counts each, idle or not, until it closes). An
# idle one costs ~2.5 KiB and is cut off at REQUEST_HEADER_TIMEOUT_SECONDS: keep this high.
BACKPRESSURE = 16384
OPEN_FILES = 65536  # above BACKPRESSURE: a descriptor per connection, and some to spare


def raise_open_files_limit() -> None:
    """Each connection is a file descriptor: the usual soft limit (1,024) would let a few
    hundred idle connections stop the accept loop before their deadline."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass  # the platform refuses: keep the limit it gave


class Command(BaseCommand):
    help = (
        "Run the web server (granian, serving simple_analytics.front over RSGI) and a job "
        "consumer with the scheduler (as threads of the one web worker with JOBS_IN_WEB)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--workers", type=int, default=settings.WEB_WORKERS)
        parser.add_argument("--threads", type=int, default=settings.WEB_THREADS)
        parser.add_argument("--no-migrate", action="store_true", help="skip `migrate` at start")
        parser.add_argument(
            "--no-jobs", action="store_true", help="web server only (run `worker` elsewhere)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        workers: int = options["workers"]
        threads: int = options["threads"]
        no_migrate: bool = options["no_migrate"]
        no_jobs: bool = options["no_jobs"]
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        # The front reads each request whole, within deadlines, before one of its `threads`
        # runs the WSGI application; uvloop halves the event loop's cost per request. HTTP/1
        # only: in granian's auto mode a silent connection is never timed out (decisions.md).
        header_timeout_ms = max(1, round(settings.REQUEST_HEADER_TIMEOUT_SECONDS * 1000))
        web = [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "rsgi",
            "--loop",
            "uvloop",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--backpressure",
            str(BACKPRESSURE),
            "--http1-header-read-timeout",
            str(header_timeout_ms),
            "--http",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "simple_analytics.front:app",
        ]
        os.environ["WEB_THREADS"] = str(threads)  # read by the front in each worker
        raise_open_files_limit()  # inherited by granian and its workers
        jobs_in_web = workers == 1 if settings.JOBS_IN_WEB is None else settings.JOBS_IN_WEB
        in_web = not no_jobs and jobs_in_web
        if in_web and workers != 1:
            raise CommandError("JOBS_IN_WEB needs one web worker: --workers 1 or --no-jobs")
        commands = [web]
        if not no_jobs and not in_web:
            commands.append([sys.executable, "-m", "simple_analytics", "worker", "--scheduler"])
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
        self.stdout.write(f"Simple Analytics is running at http://{shown}:{port}/  (Ctrl+C stops)")
        self.stdout.flush()
        if in_web:
            # One process does it all: granian itself, its worker running the jobs as
            # threads. No supervisor needed (granian stops its worker on SIGTERM/SIGINT).
            os.environ["SIMPLE_ANALYTICS_JOBS_IN_WEB"] = "1"
            os.execv(sys.executable, web)
        os.environ.pop("SIMPLE_ANALYTICS_JOBS_IN_WEB", None)
        # Hand over to a supervisor without Django loaded: this process would otherwise
        # keep ~100 MB of settings, apps and URL checks resident for nothing.
        argv = [sys.executable, "-m", "simple_analytics.supervisor"]
        for cmd in commands:
            argv += ["--", *cmd]
        os.execv(sys.executable, argv)
