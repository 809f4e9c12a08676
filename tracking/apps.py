"""The tracking app: opens the GeoIP database at start, so a bad path is one clear error
instead of a failure per event."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.geo import GeoDatabaseError, locator


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        try:
            locator(settings.GEOIP_DATABASE)
        except GeoDatabaseError as exc:
            raise ImproperlyConfigured(str(exc)) from None
