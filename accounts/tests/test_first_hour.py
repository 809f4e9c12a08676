"""A fresh install without SMTP: the account pages say email is not configured and where
the message went (the console) instead of "sent, check your spam folder", two-factor can be
turned on with an unverified address, and ``createuser`` without a terminal says how to pass
the password."""

from __future__ import annotations

import io
import sys

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.urls import reverse

from simple_analytics.testing import make_user, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
# What a server with SMTP looks like (no mail leaves: tests use the locmem backend).
WITH_SMTP = override_settings(EMAIL_HOST="smtp.example.com", MFA_ALLOW_UNVERIFIED_EMAIL=False)


def signup(client: Client, email: str = "new@example.com"):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )


def test_sign_up_without_smtp_says_the_link_went_to_the_console(client):
    html = signup(client).content.decode()
    assert "Email is not configured on this server: the confirmation link for" in html
    assert "Confirmation email sent" not in html


def test_sign_up_with_smtp_says_the_email_was_sent(client):
    with WITH_SMTP:
        html = signup(client).content.decode()
    assert "Confirmation email sent to new@example.com." in html


@pytest.mark.parametrize("smtp", [False, True], ids=["console", "smtp"])
def test_the_reset_and_verification_pages_tell_the_truth(client, smtp):
    pages = [reverse("account_reset_password_done"), reverse("account_email_verification_sent")]
    for url in pages:
        if smtp:
            with WITH_SMTP:
                html = client.get(url).content.decode()
        else:
            html = client.get(url).content.decode()
        assert ("spam folder" in html) is smtp, url
        assert ("Email is not configured on this server" in html) is not smtp, url


def test_the_account_pages_say_email_is_not_configured(client):
    client.force_login(make_user())
    for name in ("account_email", "account_change_password", "mfa_index"):
        html = client.get(reverse(name)).content.decode()
        assert "data-email-console" in html and "without a verified address" in html, name
    with WITH_SMTP:
        assert "data-email-console" not in client.get(reverse("account_email")).content.decode()


def _activate_totp(client: Client):
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    page = client.get(reverse("mfa_activate_totp"), follow=True)
    if page.redirect_chain:
        return page
    secret = page.context["form"].secret
    code = totp_code(secret)
    return client.post(reverse("mfa_activate_totp"), {"code": code}, follow=True)


def test_two_factor_works_with_an_unverified_address_when_email_is_not_configured(client):
    user = make_user()
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    client.force_login(user)
    _activate_totp(client)
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def test_with_smtp_two_factor_still_needs_a_verified_address(client):
    user = make_user()
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=False)
    client.force_login(user)
    with WITH_SMTP:
        page = _activate_totp(client)
    assert page.redirect_chain[-1][0] == reverse("mfa_index")
    assert not Authenticator.objects.exists()


class _NoTerminal(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_createuser_without_a_terminal_says_how_to_pass_the_password(monkeypatch):
    monkeypatch.setattr(sys, "stdin", _NoTerminal(""))
    with pytest.raises(CommandError, match="--password PASSWORD, or on standard input"):
        call_command("createuser", "ops@example.com")
    assert not get_user_model().objects.exists()


def test_createuser_reads_the_password_from_standard_input(monkeypatch, client):
    monkeypatch.setattr(sys, "stdin", _NoTerminal(PASSWORD + "\n"))
    out = io.StringIO()
    call_command("createuser", "ops@example.com", "--password-stdin", stdout=out)
    assert out.getvalue() == "created user ops@example.com\n"
    assert client.login(username="ops@example.com", password=PASSWORD)


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["--password-stdin"], "", "read no password"),
        (["--password-stdin", "--password", PASSWORD], PASSWORD, "not both"),
    ],
)
def test_createuser_refuses_an_unclear_password(monkeypatch, args, stdin, message):
    monkeypatch.setattr(sys, "stdin", _NoTerminal(stdin))
    with pytest.raises(CommandError, match=message):
        call_command("createuser", "ops@example.com", *args)
    assert not get_user_model().objects.exists()
