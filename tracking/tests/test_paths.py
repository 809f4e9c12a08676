"""Renamed tracker paths (``tracking.paths``): the settings are checked at start, every door
(the Django URLconf, the WSGI fast path, the front's event loop) serves the configured
paths, the legacy ones only while ``TRACKER_LEGACY_PATHS`` is on, and the served script
and the snippet point at the configured paths."""

from __future__ import annotations

import asyncio
import gzip
import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.test import Client, override_settings
from django.urls import clear_url_caches, reverse

import simple_analytics.urls
from simple_analytics.testing import DESKTOP_UA, make_website
from simple_analytics.tests.routes import all_routes
from tracking import paths, pixel
from tracking.models import Event
from websites.services import snippet

ROOT = Path(__file__).resolve().parents[2]
RENAMED = {"TRACKER_SCRIPT_PATH": "/js/site.js", "TRACKER_ENDPOINT_PATH": "/ev"}


def _reload_routes() -> None:
    paths.current.cache_clear()
    clear_url_caches()
    importlib.reload(simple_analytics.urls)


@contextmanager
def tracker_settings(**overrides: Any) -> Iterator[None]:
    """These settings, with the URLconf and ``paths.current()`` rebuilt for them (and back)."""
    try:
        with override_settings(**overrides):
            _reload_routes()
            yield
    finally:
        _reload_routes()


def _event(website: Any, path: str = "/") -> str:
    return json.dumps(
        {"site": website.tracking_id, "type": "PAGE_VIEW", "url": f"https://example.com{path}"}
    )


# --- The check at start ---------------------------------------------------------------------


def test_the_defaults_and_a_renamed_pair_are_accepted():
    assert paths.problem(paths.DEFAULT_SCRIPT_PATH, paths.DEFAULT_ENDPOINT_PATH) is None
    assert paths.problem("/js/site.js", "/ev") is None
    assert paths.problem("/a/b-c_d~1.js", "/collect/v2") is None


@pytest.mark.parametrize(
    "script, endpoint, message",
    [
        ("js/site.js", "/ev", 'TRACKER_SCRIPT_PATH must start with "/"'),
        ("/js/site.js", "ev", 'TRACKER_ENDPOINT_PATH must start with "/"'),
        ("/site.js?v=1", "/ev", 'TRACKER_SCRIPT_PATH must be a path without "?" or "#"'),
        ("/site.js", "/ev#x", 'TRACKER_ENDPOINT_PATH must be a path without "?" or "#"'),
        ("/site.js", "/ev/", "TRACKER_ENDPOINT_PATH must be /segment"),
        ("/site.js", "//ev", "TRACKER_ENDPOINT_PATH must be /segment"),
        ("/site.js", "/a/../ev", "TRACKER_ENDPOINT_PATH must be /segment"),
        ('/si"te.js', "/ev", "TRACKER_SCRIPT_PATH must be /segment"),
        ("/site.js", "/e v", "TRACKER_ENDPOINT_PATH must be /segment"),
        ("/site", "/ev", 'TRACKER_SCRIPT_PATH must end in ".js"'),
        ("/websites/site.js", "/ev", "collides with the app's own route /websites/"),
        ("/site.js", "/api/v1/ev", "collides with the app's own route /api/v1/"),
        ("/static/site.js", "/ev", "collides with the app's own route /static/"),
        ("/site.js", "/accounts/ev", "collides with the app's own route /accounts/"),
        ("/site.js", "/healthz", "collides with the app's own route /healthz"),
        ("/site.js", "/admin", "collides with the app's own route /admin/"),
        ("/site.js", "/site.js", "TRACKER_ENDPOINT_PATH='/site.js' is a path of the tracking"),
        ("/site.js", "/site.full.js", "is a path of the tracking script"),
        ("/site.js", "/pixel.js", "is a path of the tracking script"),
    ],
)
def test_a_bad_path_is_refused_with_the_setting_named(script, endpoint, message):
    found = paths.problem(script, endpoint)
    assert found is not None and message in found


def test_the_app_refuses_to_start_with_a_bad_tracker_path(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "simple_analytics", "check"],
        env={
            "DATA_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "TRACKER_SCRIPT_PATH": "/js/site.js",
            "TRACKER_ENDPOINT_PATH": "/websites/ev",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "TRACKER_ENDPOINT_PATH='/websites/ev' collides with the app's own route" in (
        result.stderr
    )


def test_every_route_of_the_app_is_reserved():
    """A new top-level route must join ``paths.RESERVED``, or a tracker path could shadow it."""
    tracker = {"collect", "pixel", "pixel_full"}
    for route in all_routes():
        if route.name in tracker:
            continue
        url = "/" + route.pattern.lstrip("^")
        assert url == "/" or any(url.startswith(r) for r in paths.RESERVED if r != "/"), url


# --- Every door, renamed, with and without the legacy paths --------------------------------


def test_the_legacy_switch_adds_the_original_paths_beside_the_renamed_ones():
    on = paths.paths_for(script="/js/site.js", endpoint="/ev", legacy=True)
    off = paths.paths_for(script="/js/site.js", endpoint="/ev", legacy=False)
    assert off.endpoints == {"/ev"} and on.endpoints == {"/ev", "/api/event"}
    assert off.scripts == {"/js/site.js": False, "/js/site.full.js": True}
    assert on.scripts == {**off.scripts, "/pixel.js": False, "/pixel.full.js": True}
    # Switching the legacy paths off never switches the defaults off.
    default = paths.paths_for(script="/pixel.js", endpoint="/api/event", legacy=False)
    assert default.endpoints == {"/api/event"} and set(default.scripts) == {
        "/pixel.js",
        "/pixel.full.js",
    }


@pytest.mark.django_db(transaction=True)  # the WSGI fast path hands its connection back
@pytest.mark.parametrize("legacy", [True, False])
def test_the_renamed_paths_serve_and_the_legacy_ones_follow_the_switch(legacy):
    website = make_website(domain="example.com")
    client = Client(HTTP_USER_AGENT=DESKTOP_UA)
    with tracker_settings(**RENAMED, TRACKER_LEGACY_PATHS=legacy):
        assert (reverse("collect"), reverse("pixel")) == ("/ev", "/js/site.js")
        assert client.get("/js/site.js").status_code == 200
        assert client.get("/js/site.full.js").status_code == 200
        sent = client.generic("POST", "/ev", _event(website, "/a"), content_type="text/plain")
        assert sent.status_code == 202
        old = 200 if legacy else 404
        assert client.get("/pixel.js").status_code == old
        assert client.get("/pixel.full.js").status_code == old
        sent = client.generic(
            "POST", "/api/event", _event(website, "/b"), content_type="text/plain"
        )
        assert sent.status_code == (202 if legacy else 404)

        assert _wsgi("/ev", _event(website, "/c")).startswith("202")
        assert _wsgi("/api/event", _event(website, "/d")).startswith("202" if legacy else "404")
        assert asyncio.run(_front("/ev", _event(website, "/e"))) == 202
        assert asyncio.run(_front("/api/event", _event(website, "/f"))) == (202 if legacy else 200)
    stored = set(Event.objects.values_list("path", flat=True))
    assert stored == ({"/a", "/b", "/c", "/d", "/e", "/f"} if legacy else {"/a", "/c", "/e"})


def _wsgi(path: str, body: str) -> str:
    """The production WSGI entry point (its ingest fast path, or Django) for one POST."""
    from simple_analytics.wsgi import application

    data = body.encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "wsgi.input": io.BytesIO(data),
        "CONTENT_LENGTH": str(len(data)),
        "CONTENT_TYPE": "text/plain",
        "REMOTE_ADDR": "198.51.100.4",
        "HTTP_USER_AGENT": DESKTOP_UA,
    }
    setup_testing_defaults(environ)
    seen: dict[str, str] = {}
    b"".join(application(environ, lambda status, headers: seen.update(status=status)))
    return seen["status"]


async def _front(path: str, body: str) -> int:
    """The front's event loop: the ingest path is answered there; anything else goes to
    the (recording) application behind it, which answers 200."""
    from simple_analytics.tests.test_slow_clients import (
        FakeProto,
        FakeScope,
        Recorder,
        ask,
        make_front,
    )
    from simple_analytics.wsgi import ingest_async

    front = make_front(Recorder(), ingest=ingest_async, max_body_bytes=10_000)
    data = body.encode()
    headers = [("content-type", "text/plain"), ("content-length", str(len(data)))]
    scope = FakeScope("POST", path, [*headers, ("user-agent", DESKTOP_UA)])
    proto = await ask(front, scope, FakeProto(data))
    front.__rsgi_del__(asyncio.get_running_loop())
    return int(proto.status)


# --- What is served and shown ---------------------------------------------------------------


@pytest.mark.parametrize("url, budget", [("/js/site.js", 1000), ("/js/site.full.js", 1500)])
def test_the_served_script_posts_to_the_renamed_endpoint_within_its_budget(url, budget):
    client = Client()
    default = client.get("/pixel.js")
    with tracker_settings(**RENAMED):
        plain = client.get(url)
        zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
        assert client.get(url, HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304
    assert b'"/ev"' in plain.content and b"/api/event" not in plain.content
    assert zipped["Content-Encoding"] == "gzip" and len(zipped.content) <= budget
    assert gzip.decompress(zipped.content) == plain.content
    # A cached copy of the old build is not taken for the new one.
    assert plain["ETag"] != default["ETag"]


def test_the_default_build_is_the_source_unchanged():
    assert pixel.build(False).body == pixel.build(False, "/api/event").body
    assert b'"/api/event"' in pixel.build(False).body


@pytest.mark.django_db
def test_the_snippet_loads_the_script_from_the_configured_path():
    website = make_website(domain="example.com")
    assert '/pixel.js"' in snippet(website, "https://stats.example.com")
    with override_settings(TRACKER_SCRIPT_PATH="/js/site.js"):
        assert snippet(website, "https://stats.example.com/") == (
            f'<script defer src="https://stats.example.com/js/site.js" '
            f'data-site="{website.tracking_id}"></script>'
        )
