from __future__ import annotations

import logging
from typing import Any

import requests
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.utils import user_email, user_username
from allauth.core import context as allauth_context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount import app_settings as socialaccount_settings
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.password_forms import PASSWORD_LOGIN_OFF
from accounts.sso import email_domain_allowed
from accounts.throttle import client_id

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Password sign-up; single sign-on has its own rule (``SocialAccountAdapter``)."""
        return bool(settings.REGISTRATION_OPEN) and bool(settings.PASSWORD_LOGIN)

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        # Every password check goes through here: the login form, the admin's login (it is
        # allauth's) and re-authentication before a sensitive change.
        if not settings.PASSWORD_LOGIN:
            raise ValidationError(PASSWORD_LOGIN_OFF)
        super().pre_authenticate(request, **credentials)

    def populate_username(self, request: HttpRequest, user: User) -> None:
        # The username is the lower-cased email, as `createuser` makes it, so commands that
        # take an email (`site add --owner`) find users however they signed up.
        email = (user_email(user) or "").strip().lower()
        max_length = get_user_model()._meta.get_field("username").max_length or 150
        if email and len(email) <= max_length and not user_username(user):
            user_username(user, email)
        super().populate_username(request, user)

    def get_client_ip(self, request: HttpRequest) -> str:
        """What allauth's per-IP rate limits count: a keyed hash of the client IP.

        allauth's own lookup would see the proxy's address behind a load balancer (every
        visitor in one bucket) and would put the raw IP into cache keys; this one believes
        ``X-Forwarded-For`` only from ``TRUSTED_PROXIES``, as ingestion does, and stores
        no address.
        """
        return client_id(request)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Who may come in through single sign-on: a verified email of an allowed domain."""

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # pre_social_login has already refused everyone else; REGISTRATION_OPEN and
        # PASSWORD_LOGIN are about password accounts (README, "Single sign-on").
        return True

    def get_requests_session(self) -> requests.Session:
        return _ProviderSession()

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Refuse, with a page saying why, a login without a verified email of an allowed
        domain; on every login, so a connected account that moved domain is refused too."""
        verified = [a.email for a in sociallogin.email_addresses if a.verified and a.email]
        if not verified:
            raise ImmediateHttpResponse(
                _refused(
                    request,
                    "Your identity provider did not confirm an email address for your "
                    "account (no email, or email_verified is not true).",
                )
            )
        allowed = settings.OIDC_ALLOWED_EMAIL_DOMAINS
        if not any(email_domain_allowed(email, allowed) for email in verified):
            # The allowed domains are not listed: the provider may be open to anyone.
            reason = f"{verified[0]} is not in a domain allowed to sign in here."
            raise ImmediateHttpResponse(_refused(request, reason))


class _ProviderSession(requests.Session):
    """allauth's calls to the provider, with a failure answered by an error page: its
    login view would let an unreachable provider through as a 500."""

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", socialaccount_settings.REQUESTS_TIMEOUT)
        try:
            response = super().request(method, url, *args, **kwargs)
            if str(url).endswith("/.well-known/openid-configuration"):
                response.raise_for_status()  # a wrong OIDC_ISSUER_URL
            return response
        except requests.RequestException as exc:
            logger.warning("single sign-on: %s %s failed: %s", method, url, exc)
            reason = "The identity provider could not be reached or answered with an error."
            raise ImmediateHttpResponse(
                _refused(allauth_context.request, reason, title="Sign-in failed", status=502)
            ) from exc


def _refused(
    request: HttpRequest, reason: str, *, title: str = "Sign-in refused", status: int = 403
) -> HttpResponse:
    context = {"reason": reason, "provider_name": settings.OIDC_NAME, "title": title}
    return render(request, "account/sso_refused.html", context, status=status)
