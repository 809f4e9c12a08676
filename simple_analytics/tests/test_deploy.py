"""Production settings: ``manage.py check --deploy`` is clean with the documented HTTPS
variables, plain http keeps working without them (``make run`` on 127.0.0.1), and error
pages (400, 403, 404, 500) show no traceback, exception text or secret.

The checks run in a subprocess with a production-like environment: DEBUG off, a real
SECRET_KEY, no test settings (pytest is not imported there).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client

from simple_analytics.tests.error_urls import CANARY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = secrets.token_urlsafe(50)
# What README's "Deploying" section tells an operator behind a TLS proxy to set.
HTTPS_ENV = {
    "BEHIND_TLS_PROXY": "True",
    "SECURE_SSL_REDIRECT": "True",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True",
    "SECURE_HSTS_PRELOAD": "True",
}
# Exactly the HTTPS warnings the variables above answer, and nothing else.
HTTPS_WARNINGS = {"security.W004", "security.W008", "security.W012", "security.W016"}


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATA_DIR": str(tmp_path),
        "DEBUG": "False",
        "SECRET_KEY": SECRET,
        "ALLOWED_HOSTS": "analytics.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://analytics.example.com",
    }
    # The same database and cache as this test run (check does not connect to them).
    for name in ("DATABASE_URL", "REDIS_URL"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return {**env, **extra}


def manage(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_https_settings(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **HTTPS_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout, result.stdout


def test_without_them_only_the_https_warnings_remain(tmp_path):
    """So an operator sees exactly what the HTTPS variables are for, and nothing is hidden."""
    result = manage(tmp_path, "check", "--deploy")
    output = result.stdout + result.stderr
    found = {w.strip("():") for w in output.split() if w.startswith("(") and "." in w}
    assert found == HTTPS_WARNINGS, output
    assert "(0 silenced)" in output


_SHOW = """
import django, json
django.setup()
from django.conf import settings as s

print(json.dumps({k: getattr(s, k) for k in (
    "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SILENCED_SYSTEM_CHECKS")}))
"""


def settings_of(tmp_path: Path, **env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=ROOT,
        env={
            **production_env(tmp_path, **env),
            "DJANGO_SETTINGS_MODULE": "simple_analytics.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_defaults_keep_plain_http_working(tmp_path):
    """`make run` serves http://127.0.0.1:8000: no redirect, no HSTS, cookies over http."""
    assert settings_of(tmp_path) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SILENCED_SYSTEM_CHECKS": [],
    }
    # Behind a TLS proxy the cookies are https-only without being told.
    behind = settings_of(tmp_path, BEHIND_TLS_PROXY="True")
    assert behind["SESSION_COOKIE_SECURE"] is behind["CSRF_COOKIE_SECURE"] is True
    assert behind["SECURE_SSL_REDIRECT"] is False


@pytest.mark.django_db
def test_with_the_redirect_on_http_goes_to_https_but_the_health_check_does_not(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    client = Client()  # a new client loads the middleware with these settings
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"
    assert client.get("/healthz").status_code == 200
    secure = client.get("/accounts/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


# --- error pages ----------------------------------------------------------------------

FORBIDDEN_IN_ERROR_PAGES = [
    CANARY,
    "canary-4b1d",
    "Traceback",
    "RuntimeError",
    "PermissionDenied",
    "SuspiciousOperation",
    'File "',
    ".py",
    str(ROOT),
    "SECRET_KEY",
    "DATABASES",
    "__test__",  # not even the URL pattern list a DEBUG 404 page would show
]


def assert_plain(response, status: int) -> None:
    assert response.status_code == status
    body = response.content.decode()
    for needle in [*FORBIDDEN_IN_ERROR_PAGES, django_settings.SECRET_KEY]:
        assert needle not in body, f"{status} page shows {needle!r}"
    assert response["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in response.headers, f"{status} page without CSP"


@pytest.mark.django_db
@pytest.mark.urls("simple_analytics.tests.error_urls")
def test_error_pages_carry_no_traceback_or_secret(caplog, settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        crash = client.get("/__test__/crash")
    assert_plain(crash, 500)
    assert "Something went wrong" in crash.content.decode()
    # ... while the operator's log has the whole story.
    logged = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert logged and CANARY in str(logged[0].exc_info[1])

    assert_plain(client.get("/__test__/forbidden"), 403)
    assert_plain(client.get("/__test__/suspicious"), 400)
    assert_plain(client.get("/__test__/missing"), 404)
    assert_plain(client.get("/no/such/page/"), 404)
    # A Host header we do not serve.
    assert_plain(client.get("/accounts/login/", HTTP_HOST="evil.example"), 400)
    # A database that cannot be reached: "retry later", not "something broke".
    down = client.get("/__test__/database-down")
    assert_plain(down, 503)
    assert down["Retry-After"] == "5"
    assert "Temporarily unavailable" in down.content.decode()
    api_down = client.get("/api/__test__/database-down")
    assert api_down.status_code == 503 and api_down["Retry-After"] == "5"
    assert api_down.json() == {"error": "temporarily unavailable, retry later"}
