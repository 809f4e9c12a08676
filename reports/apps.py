"""The reports app: weekly and monthly email summaries of a website, opted into per user."""

from __future__ import annotations

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self) -> None:
        # Registers the periodic task with Huey in every process, the consumer's included.
        from reports import tasks  # noqa: F401
