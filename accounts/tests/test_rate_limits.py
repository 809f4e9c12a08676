"""Login, sign-up and password reset are throttled (allauth's rate limits, configured in
settings), per client IP as ingestion sees it: ``X-Forwarded-For`` only from
``TRUSTED_PROXIES``, so a forged header buys no fresh budget, and clients behind our own
proxy are not all counted as the proxy. The cache keeps a keyed hash, never the address."""

from __future__ import annotations

import ipaddress

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"


def rate(action: str) -> tuple[int, str]:
    """(amount, per) of the first rate of ``action`` in ACCOUNT_RATE_LIMITS."""
    first = django_settings.ACCOUNT_RATE_LIMITS[action].split(",")[0]
    amount, _, per = first.split("/")
    return int(amount), per


def login(email: str, password: str, ip: str = "203.0.113.7", **headers: str):
    client = Client(REMOTE_ADDR=ip)
    response = client.post(
        reverse("account_login"), {"login": email, "password": password}, **headers
    )
    return response, "_auth_user_id" in client.session


def blocked(response) -> bool:
    return response.status_code == 429 or b"Too many failed login attempts" in response.content


def test_the_limits_are_configured():
    from allauth.account import app_settings

    for action in (
        "login",
        "login_failed",
        "signup",
        "reset_password",
        "reset_password_from_key",
        "change_password",
    ):
        assert app_settings.RATE_LIMITS[action] == django_settings.ACCOUNT_RATE_LIMITS[action]
    assert rate("login_failed") == (10, "ip")


def test_failed_logins_from_one_address_are_throttled_across_accounts():
    make_user("victim@example.com")
    amount, _ = rate("login_failed")
    for n in range(amount):
        response, _ = login(f"guess{n}@example.com", "wrong-password-1")
        assert not blocked(response), n
    response, ok = login("victim@example.com", PASSWORD)
    assert blocked(response) and not ok
    # Someone else, elsewhere, logs in.
    response, ok = login("victim@example.com", PASSWORD, ip="198.51.100.20")
    assert ok, response.status_code


def test_a_forged_forwarded_for_does_not_reset_the_login_budget():
    make_user("victim@example.com")
    amount, _ = rate("login_failed")
    for n in range(amount):
        login(f"guess{n}@example.com", "wrong-password-1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response, ok = login("victim@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert blocked(response) and not ok


def test_behind_a_trusted_proxy_clients_are_told_apart(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    make_user("victim@example.com")
    amount, _ = rate("login_failed")
    for n in range(amount):
        login(f"guess{n}@example.com", "wrong-1", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1")
    response, ok = login(
        "victim@example.com", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1"
    )
    assert blocked(response) and not ok
    response, ok = login(
        "victim@example.com", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.2"
    )
    assert ok


def test_password_reset_requests_are_throttled_per_address_and_per_email():
    make_user("known@example.com")
    url = reverse("account_reset_password")
    per_email = int(
        django_settings.ACCOUNT_RATE_LIMITS["reset_password"].split(",")[1].split("/")[0]
    )
    for n in range(per_email):
        response = Client(REMOTE_ADDR=f"198.51.100.{n + 1}").post(
            url, {"email": "known@example.com"}
        )
        assert response.status_code == 302, n
    # From yet another address: the e-mail address itself has had enough for now.
    response = Client(REMOTE_ADDR="198.51.100.99").post(url, {"email": "known@example.com"})
    assert response.status_code == 429
    assert len(mail.outbox) == per_email

    cache.clear()
    amount, per = rate("reset_password")
    assert per == "ip"
    client = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(amount):
        assert client.post(url, {"email": f"someone{n}@example.com"}).status_code == 302, n
    assert client.post(url, {"email": "another@example.com"}).status_code == 429


def test_sign_ups_are_throttled_per_address():
    amount, per = rate("signup")
    assert per == "ip"
    url = reverse("account_signup")
    for n in range(amount):
        data = {"email": f"new{n}@example.com", "password1": PASSWORD, "password2": PASSWORD}
        assert Client(REMOTE_ADDR="203.0.113.9").post(url, data).status_code == 302, n
    data = {"email": "late@example.com", "password1": PASSWORD, "password2": PASSWORD}
    assert Client(REMOTE_ADDR="203.0.113.9").post(url, data).status_code == 429
    assert Client(REMOTE_ADDR="198.51.100.3").post(url, data).status_code == 302


def test_rate_limit_cache_keys_hold_no_address():
    login("guess@example.com", "wrong-password-1", ip="203.0.113.77")
    Client(REMOTE_ADDR="203.0.113.77").post(
        reverse("account_reset_password"), {"email": "x@example.com"}
    )
    store = cache._cache
    if isinstance(store, dict):  # the in-process cache
        keys = list(store)
    else:  # Redis: scan the keys of this cache
        keys = [k.decode() for k in store.get_client().scan_iter("*")]
    assert any(":rl:" in k for k in keys), keys
    assert not [k for k in keys if "203.0.113.77" in k], keys
