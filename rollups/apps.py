"""The rollups app: snapshot models, filling them, and retention."""

from __future__ import annotations

from django.apps import AppConfig


class RollupsConfig(AppConfig):
    name = "rollups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rollups import signals  # noqa: F401
