"""The tracker's routes in the Django URLconf, at the paths ``tracking.paths`` configures."""

from __future__ import annotations

from django.urls import URLPattern, path

from tracking import paths, views


def tracker_urlpatterns() -> list[URLPattern]:
    """A route per served path. The legacy ones share the names of the configured ones,
    which come last: ``reverse()`` picks the last pattern of a name."""
    current = paths.current()
    served = [(p, "pixel_full" if full else "pixel") for p, full in current.scripts.items()]
    served += [(p, "collect") for p in current.endpoints]
    configured = {current.endpoint, current.script, paths.full_script_path(current.script)}
    served.sort(key=lambda route: route[0] in configured)
    view = {"collect": views.collect, "pixel": views.pixel, "pixel_full": views.pixel_full}
    return [path(p.lstrip("/"), view[name], name=name) for p, name in served]
