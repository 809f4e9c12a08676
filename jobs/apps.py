"""The jobs app: wires ingestion's post-commit hook to the debounced dashboard refresh."""

from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"

    def ready(self) -> None:
        # Injected here: tracking must not import jobs (jobs depends on tracking).
        from jobs.tasks import request_refresh
        from tracking import collect

        collect.set_commit_hook(request_refresh)
