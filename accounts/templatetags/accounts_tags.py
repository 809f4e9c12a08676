from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse

from accounts import sso

register = template.Library()


@register.simple_tag
def registration_open() -> bool:
    """Whether password sign-up is open, so the login page only offers it when it is."""
    return bool(settings.REGISTRATION_OPEN) and bool(settings.PASSWORD_LOGIN)


@register.simple_tag
def password_login() -> bool:
    """Whether the login page shows the email and password form (``PASSWORD_LOGIN``)."""
    return bool(settings.PASSWORD_LOGIN)


@register.simple_tag
def sso_login() -> dict[str, str] | None:
    """The single sign-on button's label and the URL it posts to; None without SSO."""
    if not settings.OIDC_ISSUER_URL:
        return None
    url = reverse("openid_connect_login", kwargs={"provider_id": sso.PROVIDER_ID})
    return {"name": settings.OIDC_NAME, "login_url": url}


@register.simple_tag
def email_configured() -> bool:
    """Whether account emails leave this server (``EMAIL_HOST`` set); else they are only
    printed to its console, and the pages must not claim a message was sent."""
    return bool(settings.EMAIL_HOST)
