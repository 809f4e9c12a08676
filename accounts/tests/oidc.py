"""Tools of the single sign-on tests: settings that point this app at a provider, and a
real OpenID Connect provider process on loopback (``oidc_provider.mjs``, npm's
``oidc-provider``). Without Node.js or the package (``npm ci``) the tests that need the
provider skip, and fail under CI=true."""

from __future__ import annotations

import copy
import json
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from accounts import sso

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CLIENT_ID = "simple-analytics-test"
CLIENT_SECRET = "test-client-secret-5f0c9a"
NAME = "Acme SSO"

# Login names at the provider (any password) and the claims it vouches for.
ACCOUNTS = {
    "alice": {"email": "alice@corp.example", "email_verified": True, "name": "Alice"},
    "bob": {"email": "Bob@Corp.example", "email_verified": True, "name": "Bob"},
    "pat": {"email": "pat@corp.example", "email_verified": True},
    "mallory": {"email": "mallory@elsewhere.example", "email_verified": True},
    "unverified": {"email": "carol@corp.example", "email_verified": False},
}


def sso_settings(
    issuer: str,
    *,
    domains: tuple[str, ...] = ("corp.example",),
    password_login: bool = True,
) -> dict[str, Any]:
    """Keyword arguments of ``override_settings`` that turn SSO on, as settings.py would
    from the environment (allauth and django-csp read these on every request)."""
    csp = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    csp["DIRECTIVES"]["form-action"] = ["'self'", *sso.form_action_sources(issuer)]
    return {
        "OIDC_ISSUER_URL": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_NAME": NAME,
        "OIDC_ALLOWED_EMAIL_DOMAINS": list(domains),
        "PASSWORD_LOGIN": password_login,
        "SOCIALACCOUNT_PROVIDERS": sso.providers_setting(
            issuer_url=issuer, client_id=CLIENT_ID, secret=CLIENT_SECRET, name=NAME
        ),
        "CONTENT_SECURITY_POLICY": csp,
    }


def callback_url(base_url: str) -> str:
    return f"{base_url}/accounts/oidc/{sso.PROVIDER_ID}/login/callback/"


@contextmanager
def oidc_provider(redirect_uri: str) -> Iterator[str]:
    """Run the provider with one client (``redirect_uri``) and ``ACCOUNTS``; yields its
    issuer URL and stops the process on exit."""
    from conftest import require_service

    node = shutil.which("node")
    require_service("Node.js (`node`)", node is not None)
    installed = (REPO / "node_modules" / "oidc-provider" / "package.json").exists()
    require_service("the oidc-provider npm package (`npm ci`)", installed)
    assert node is not None
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [node, str(SCRIPT), CLIENT_ID, CLIENT_SECRET, redirect_uri, json.dumps(ACCOUNTS)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 20
        while not select.select([process.stdout], [], [], 0.1)[0]:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise AssertionError(f"the OIDC provider did not start: {log.read()}")
        yield str(json.loads(process.stdout.readline())["issuer"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
