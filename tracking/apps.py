"""The tracking app: opens the GeoIP database at start, so a bad path is one clear error
instead of a failure per event; deletes a website's raw data with it (``signals``)."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.geo import GeoDatabaseError, locator


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        from tracking import signals  # noqa: F401

        try:
            locator(settings.GEOIP_DATABASE)
        except GeoDatabaseError as exc:
            raise ImproperlyConfigured(str(exc)) from None
