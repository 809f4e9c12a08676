"""Where the tracker lives: the paths of the script's two builds and of the event endpoint.

``TRACKER_SCRIPT_PATH`` and ``TRACKER_ENDPOINT_PATH`` rename them (so a site can serve both
from its own domain through a reverse proxy); with ``TRACKER_LEGACY_PATHS`` the original
``/pixel.js``, ``/pixel.full.js`` and ``/api/event`` keep working beside them. Every door
(the Django URLconf, the WSGI fast path, the asynchronous front) asks ``current()``;
``problem()`` is the check ``settings.py`` runs at start.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

DEFAULT_SCRIPT_PATH = "/pixel.js"
DEFAULT_ENDPOINT_PATH = "/api/event"
# The app's own routes: a tracker path may be neither one of these nor inside one.
# tracking/tests/test_paths.py walks the URLconf, so a new top-level route must be added here.
RESERVED = (
    "/",
    "/healthz",
    "/status/",
    "/accounts/",
    "/account/",
    "/admin/",
    "/api/v1/",
    "/websites/",
    "/teams/",
    "/invitations/",
    "/share/",
    "/reports/",
    "/static/",
)
# Plain segments only: the value goes verbatim into PATH_INFO comparisons, a JavaScript
# string literal and an HTML attribute, so nothing there may need escaping or decoding.
_SEGMENTS = re.compile(r"(/[A-Za-z0-9_~.-]+)+")


def full_script_path(script_path: str) -> str:
    """The full build beside the default one: ``/x.js`` -> ``/x.full.js``."""
    return script_path.removesuffix(".js") + ".full.js"


@dataclass(frozen=True)
class Paths:
    script: str
    endpoint: str
    # Every path the script is served under -> whether that is the full build.
    scripts: Mapping[str, bool]
    # Every path events are accepted under.
    endpoints: frozenset[str]


def paths_for(*, script: str, endpoint: str, legacy: bool) -> Paths:
    scripts = {script: False, full_script_path(script): True}
    endpoints = {endpoint}
    if legacy:
        scripts |= {DEFAULT_SCRIPT_PATH: False, full_script_path(DEFAULT_SCRIPT_PATH): True}
        endpoints.add(DEFAULT_ENDPOINT_PATH)
    return Paths(script=script, endpoint=endpoint, scripts=scripts, endpoints=frozenset(endpoints))


@functools.cache
def current() -> Paths:
    """The configured paths (settings are read once per process; tests clear the cache)."""
    return paths_for(
        script=settings.TRACKER_SCRIPT_PATH,
        endpoint=settings.TRACKER_ENDPOINT_PATH,
        legacy=settings.TRACKER_LEGACY_PATHS,
    )


def _path_problem(name: str, value: str) -> str | None:
    if not value.startswith("/"):
        return f'{name} must start with "/", got {value!r}'
    if "?" in value or "#" in value:
        return f'{name} must be a path without "?" or "#", got {value!r}'
    if not _SEGMENTS.fullmatch(value) or "/./" in value + "/" or "/../" in value + "/":
        return (
            f"{name} must be /segment[/segment...], each segment of letters, digits and "
            f"- _ . ~ (no trailing slash), got {value!r}"
        )
    for route in RESERVED:
        if value == route.rstrip("/") or (route != "/" and value.startswith(route)):
            return f"{name}={value!r} collides with the app's own route {route}"
    return None


def problem(script: str, endpoint: str) -> str | None:
    """Why this pair of paths cannot be used (a message naming the setting), or None."""
    found = _path_problem("TRACKER_SCRIPT_PATH", script) or _path_problem(
        "TRACKER_ENDPOINT_PATH", endpoint
    )
    if found:
        return found
    if not script.endswith(".js"):
        return f'TRACKER_SCRIPT_PATH must end in ".js", got {script!r}'
    # Also the legacy script paths, which may be served beside the renamed ones.
    scripts = {script, full_script_path(script), DEFAULT_SCRIPT_PATH}
    if endpoint in scripts | {full_script_path(DEFAULT_SCRIPT_PATH)}:
        return f"TRACKER_ENDPOINT_PATH={endpoint!r} is a path of the tracking script"
    return None
