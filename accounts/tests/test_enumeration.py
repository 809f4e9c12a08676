"""No user enumeration: the answers to log in and password reset do not depend on whether an
address has an account. Sign-up can only keep the secret when e-mail verification is
mandatory (``ACCOUNT_PREVENT_ENUMERATION``): then an existing address gets the same answer as
a new one, and its owner an e-mail. With verification ``optional`` or ``none`` (the default
is optional) a new account is logged in at once, so allauth has to say the address is taken
— the documented limit (docs/SECURITY.md)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


def page(response, *replace: str) -> bytes:
    content = _CSRF.sub(b"csrf", response.content)
    for value in replace:
        content = content.replace(value.encode(), b"<EMAIL>")
    return content


def test_prevention_is_on(settings):
    assert settings.ACCOUNT_PREVENT_ENUMERATION is True


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer():
    make_user("known@example.com")
    url = reverse("account_login")
    known = Client().post(url, {"login": "known@example.com", "password": "wrong-password-1"})
    unknown = Client().post(url, {"login": "nobody@example.com", "password": "wrong-password-1"})
    assert known.status_code == unknown.status_code == 200
    assert b"not correct" in known.content
    assert page(known, "known@example.com") == page(unknown, "nobody@example.com")


def test_password_reset_answers_alike_for_known_and_unknown_addresses():
    make_user("known@example.com")
    url = reverse("account_reset_password")
    known = Client().post(url, {"email": "known@example.com"}, follow=True)
    unknown = Client().post(url, {"email": "nobody@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain
    assert known.status_code == unknown.status_code == 200
    assert page(known) == page(unknown)
    # Only the real account gets a link (the unknown address is told it has no account).
    links = {m.to[0]: "/password/reset/key/" in m.body for m in mail.outbox}
    assert links == {"known@example.com": True, "nobody@example.com": False}


def test_with_mandatory_verification_sign_up_does_not_reveal_an_existing_address(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    make_user("known@example.com")
    url = reverse("account_signup")
    data = {"password1": PASSWORD, "password2": PASSWORD}
    existing = Client().post(url, {"email": "known@example.com", **data}, follow=True)
    new = Client().post(url, {"email": "new@example.com", **data}, follow=True)
    assert existing.redirect_chain == new.redirect_chain
    assert page(existing, "known@example.com") == page(new, "new@example.com")
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert "Already Exists" in subjects["known@example.com"]
    assert "Confirm" in subjects["new@example.com"]


def test_with_optional_verification_sign_up_says_the_address_is_taken(settings):
    """The documented limit: the new account would be logged in at once otherwise."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    make_user("known@example.com")
    response = Client().post(
        reverse("account_signup"),
        {"email": "known@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert b"already registered" in response.content
