"""Account lock-out (docs/SECURITY.md): anyone can lock an account's password logins with
a few wrong passwords from any addresses (allauth's per-account ``login_failed`` limit).
These tests pin down its bounds: what it blocks, that it lifts by itself, that blocked
attempts do not extend it, and that sessions and a password reset still work."""

from __future__ import annotations

import re
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.core.internal import ratelimit as allauth_ratelimit
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
VICTIM = "victim@example.com"


def per_account() -> tuple[int, int]:
    """(failures, seconds) of the per-account rate of ``login_failed``."""
    rate = django_settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",")[1]
    amount, period, per = rate.split("/")
    assert per == "key" and period == "5m", rate
    return int(amount), 300


def login(email: str, password: str, ip: str) -> tuple[bool, bool]:
    """(blocked by the limit, logged in)."""
    client = Client(REMOTE_ADDR=ip)
    response = client.post(reverse("account_login"), {"login": email, "password": password})
    blocked = b"Too many failed login attempts" in response.content
    return blocked, "_auth_user_id" in client.session


def lock(email: str) -> None:
    amount, _ = per_account()
    for n in range(amount):
        assert login(email, "wrong-password-1", ip=f"198.51.100.{n + 1}") == (False, False), n


class Later:
    """allauth's rate-limit clock, ``seconds`` ahead (its lock and sleep stay real)."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def time(self) -> float:
        return time.time() + self.seconds


@pytest.fixture
def victim():
    user = make_user(VICTIM)
    EmailAddress.objects.create(user=user, email=VICTIM, primary=True, verified=True)
    return user


def test_five_wrong_passwords_from_anywhere_lock_the_account_and_nothing_else(victim):
    session = Client()
    session.force_login(victim)
    make_user("neighbour@example.com")
    lock(VICTIM)

    # The right password, from an address that never failed, in any spelling of the email.
    for email in (VICTIM, "Victim@Example.com", f" {VICTIM} "):
        assert login(email, PASSWORD, ip="192.0.2.50") == (True, False), email
    # Other accounts, from the same addresses, and sessions already open are untouched,
    assert login("neighbour@example.com", PASSWORD, ip="198.51.100.1") == (False, True)
    assert session.get(reverse("dashboard:websites")).status_code == 200
    # but re-entering the password for a sensitive page is refused too.
    response = session.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert b"Too many failed login attempts" in response.content


def test_each_host_name_the_site_answers_to_counts_its_own_failures(victim):
    # allauth keys the count by site; without django.contrib.sites that is the Host.
    lock(VICTIM)
    client = Client(REMOTE_ADDR="192.0.2.50", HTTP_HOST="localhost")
    client.post(reverse("account_login"), {"login": VICTIM, "password": PASSWORD})
    assert "_auth_user_id" in client.session


def test_the_lock_lifts_after_five_minutes_and_blocked_attempts_do_not_extend_it(
    victim, monkeypatch
):
    _, seconds = per_account()
    lock(VICTIM)
    monkeypatch.setattr(allauth_ratelimit, "time", Later(seconds - 60))
    assert login(VICTIM, PASSWORD, ip="192.0.2.50") == (True, False)
    monkeypatch.setattr(allauth_ratelimit, "time", Later(seconds + 1))
    assert login(VICTIM, PASSWORD, ip="192.0.2.50") == (False, True)


def test_a_password_reset_works_during_the_lock_and_lifts_it(victim):
    lock(VICTIM)
    client = Client(REMOTE_ADDR="192.0.2.60")
    assert client.post(reverse("account_reset_password"), {"email": VICTIM}).status_code == 302
    (message,) = [m for m in mail.outbox if m.to == [VICTIM]]
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", message.body)
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    new = "a-brand-new-passphrase-7"
    target = form.redirect_chain[-1][0] if form.redirect_chain else link.group(1)
    done = client.post(target, {"password1": new, "password2": new})
    assert done.status_code == 302

    assert login(VICTIM, new, ip="192.0.2.61") == (False, True)
