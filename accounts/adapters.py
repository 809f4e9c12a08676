from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.utils import user_email, user_username
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.http import HttpRequest

from accounts.throttle import client_id


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return bool(settings.REGISTRATION_OPEN)

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
