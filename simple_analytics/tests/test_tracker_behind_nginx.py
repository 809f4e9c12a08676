"""The tracker served first-party: a real nginx on loopback proxies renamed paths to
``simple-analytics serve`` (README, "Serve the tracker from your own domain"), and the
events land with the visitor's address, not the proxy's.

nginx plays the tracked site's server. The test plays several visitors from one address,
so nginx takes each visitor's address from a header the test sets (its realip module, as
a CDN in front of nginx would); from there on nginx does what the README tells operators:
it appends that address to ``X-Forwarded-For``, and the app trusts only 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simple_analytics.testing import DESKTOP_UA, LONDON_IP, MUNICH_IP, city_database
from systemtests.harness import HOST, Proc, cli, free_port, wait_http

pytestmark = pytest.mark.slow

SCRIPT, ENDPOINT = "/js/site.js", "/ev"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {host}:{port};
        set_real_ip_from {host};
        real_ip_header X-Test-Visitor;
        # As in the README: the two renamed paths (and the full build) go to the app.
        location ~ ^/(js/site(\\.full)?\\.js|ev)$ {{
            proxy_pass http://{host}:{app_port};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
        location / {{ return 404; }}
    }}
}}
"""


@pytest.fixture
def nginx_binary() -> str:
    from conftest import require_service

    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    require_service("nginx (Debian package `nginx`)", found is not None)
    assert found is not None
    return found


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``serve`` on SQLite in a fresh data directory, renamed paths, trusting 127.0.0.1."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "DATA_DIR": str(tmp_path / "data"),
        "HOST": HOST,
        "PORT": str(port),
        "TRUSTED_PROXIES": f"{HOST}/32",
        "TRACKER_SCRIPT_PATH": SCRIPT,
        "TRACKER_ENDPOINT_PATH": ENDPOINT,
        "LOG_LEVEL": "WARNING",
        # Places the test addresses (London, Munich); nginx's own address has no country.
        "GEOIP_DATABASE": city_database(str(tmp_path / "city.mmdb")),
    }
    cli(env, "migrate", "-v0")
    server = Proc("serve", [sys.executable, "-m", "simple_analytics", "serve"], env, tmp_path)
    server.start()
    try:
        wait_http(port, alive=server.alive)
        yield port, env
    finally:
        server.stop()
        assert "Traceback" not in server.log_text(), server.log_text()


@pytest.fixture
def nginx(nginx_binary: str, app: tuple[int, dict[str, str]], tmp_path: Path) -> Iterator[int]:
    port = free_port()
    root = tmp_path / "nginx"
    root.mkdir()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=root, host=HOST, port=port, app_port=app[0]))
    argv = [nginx_binary, "-p", str(root), "-e", str(root / "error.log"), "-c", str(conf)]
    proc = Proc("nginx", argv, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, tmp_path)
    proc.start()
    try:
        wait_http(port, SCRIPT, timeout=30, alive=proc.alive)
        yield port
    finally:
        proc.stop()


def _request(
    port: int, method: str, path: str, body: str | None = None, **headers: str
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_events_sent_through_nginx_on_renamed_paths_count_the_visitors_address(
    app: tuple[int, dict[str, str]], nginx: int
):
    app_port, env = app
    cli(env, "createuser", "ops@example.com", "--password", "correct-horse-9x")
    added = cli(env, "site", "add", "example.com", "--owner", "ops@example.com").stdout
    site = next(line for line in added.splitlines() if "tracking id:" in line).split()[-1]
    # The snippet names the renamed script; the operator swaps the host for the site's.
    assert f'{SCRIPT}" data-site="{site}"' in added.splitlines()[-1]

    status, script = _request(nginx, "GET", SCRIPT)
    assert status == 200 and b'"/ev"' in script and b"/api/event" not in script
    assert _request(nginx, "GET", "/js/site.full.js")[0] == 200
    # Only what the proxy forwards is reachable on the site; the app keeps the old paths.
    assert _request(nginx, "GET", "/pixel.js")[0] == 404
    assert _request(app_port, "GET", "/pixel.js")[0] == 200

    def send(visitor: str, page: str, **headers: str) -> int:
        body = json.dumps({"site": site, "type": "PAGE_VIEW", "url": f"https://example.com{page}"})
        return _request(
            nginx,
            "POST",
            ENDPOINT,
            body,
            **{"Content-Type": "text/plain", "User-Agent": DESKTOP_UA, "X-Test-Visitor": visitor},
            **headers,
        )[0]

    assert send(LONDON_IP, "/") == 202
    assert send(MUNICH_IP, "/") == 202
    # A visitor's own X-Forwarded-For is not believed: nginx appends the address it saw.
    assert send(LONDON_IP, "/pricing", **{"X-Forwarded-For": MUNICH_IP}) == 202

    shown = cli(env, "stats", "--site", site, "--period", "today", "--json").stdout
    stats = json.loads(shown)
    # Had the app counted nginx's address, there would be one visitor and no country.
    assert (stats["visitors"], stats["pageviews"]) == (2, 3)
    cities = {row["value"]: (row["visitors"], row["pageviews"]) for row in stats["cities"]}
    assert cities == {"London": (1, 2), "Munich": (1, 1)}
