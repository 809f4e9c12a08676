from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Run the web server (granian, WSGI) and a job consumer with the scheduler (as threads "
        "of the one web worker with JOBS_IN_WEB)."
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
        web = [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
            "--backpressure",
            str(threads * 4),
            "--no-ws",
            "--log-level",
            "warning",
            "simple_analytics.wsgi:application",
        ]
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
