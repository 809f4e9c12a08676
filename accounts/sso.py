"""Single sign-on with OpenID Connect: allauth's provider settings, built from plain values.

No Django imports: ``settings.py`` calls these while settings load, and tests call them to
point a live server at a provider they started.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

# The path segment of the login and callback URLs: /accounts/oidc/sso/login/callback/.
PROVIDER_ID = "sso"


def providers_setting(*, issuer_url: str, client_id: str, secret: str, name: str) -> dict[str, Any]:
    """``SOCIALACCOUNT_PROVIDERS``: one OpenID Connect app, or none without an issuer."""
    if not issuer_url:
        return {}
    app = {
        "provider_id": PROVIDER_ID,
        "name": name,
        "client_id": client_id,
        "secret": secret,
        "settings": {"server_url": issuer_url},
    }
    return {"openid_connect": {"APPS": [app], "OAUTH_PKCE_ENABLED": True}}


def form_action_sources(issuer_url: str) -> list[str]:
    """Origins CSP ``form-action`` must also allow: the SSO button's POST is answered with
    a redirect to the provider, and browsers check ``form-action`` on that redirect too."""
    if not issuer_url:
        return []
    parts = urlsplit(issuer_url)
    return [f"{parts.scheme}://{parts.netloc}"]


def email_domain_allowed(email: str, allowed_domains: list[str]) -> bool:
    """Whether ``email`` is in one of ``allowed_domains`` (exact, case-insensitive; a
    subdomain is a different domain). An empty list allows every domain."""
    if not allowed_domains:
        return True
    _, at, domain = email.strip().rpartition("@")
    return bool(at) and domain.lower() in {d.lower().lstrip("@") for d in allowed_domains}


def problem(*, issuer_url: str, client_id: str, secret: str) -> str:
    """What is wrong with the SSO settings, or ``""``."""
    if not issuer_url:
        return ""
    if not issuer_url.startswith(("http://", "https://")):
        return "OIDC_ISSUER_URL must start with https:// (or http:// on a private network)"
    if not client_id:
        return "OIDC_CLIENT_ID must be set when OIDC_ISSUER_URL is"
    if not secret:
        return "OIDC_CLIENT_SECRET_FILE must name a file holding the client secret"
    return ""
