"""Accounts through allauth: sign-up, registration closed, log in/out, password reset and
change, rate limits, two-factor pages, and every page in our own frame."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from simple_analytics.testing import make_user, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def signup(client: Client, email: str = "new@example.com", password: str = PASSWORD):
    return client.post(
        reverse("account_signup"),
        {"email": email, "password1": password, "password2": password},
    )


def login(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_sign_up_creates_the_user_and_logs_them_in(client):
    response = signup(client, "New.Person@Example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:websites")
    user = get_user_model().objects.get(email__iexact="new.person@example.com")
    # The username is the email, as `createuser` makes it (`site add --owner` finds both).
    assert user.username == "new.person@example.com"
    assert logged_in_user_id(client) == str(user.pk)
    assert EmailAddress.objects.filter(user=user, primary=True).exists()
    assert client.get(reverse("dashboard:websites")).status_code == 200


def test_sign_up_rejects_a_taken_email_and_a_weak_password(client):
    make_user("taken@example.com")
    response = signup(client, "taken@example.com")
    assert response.status_code == 200
    assert get_user_model().objects.filter(email="taken@example.com").count() == 1
    response = signup(client, "other@example.com", password="password")
    assert response.status_code == 200
    assert b"too common" in response.content
    assert logged_in_user_id(client) is None


def test_closed_registration_blocks_sign_up(client, settings):
    settings.REGISTRATION_OPEN = False
    page = client.get(reverse("account_signup"))
    assert b"Sign-up is closed" in page.content
    response = signup(client)
    assert not get_user_model().objects.filter(email="new@example.com").exists()
    assert logged_in_user_id(client) is None
    assert response.status_code == 200
    # The login page no longer offers to sign up.
    assert reverse("account_signup").encode() not in client.get(reverse("account_login")).content


def test_open_registration_is_offered_on_the_login_page(client):
    assert reverse("account_signup").encode() in client.get(reverse("account_login")).content


def test_a_createuser_user_can_log_in_with_the_login_form(client):
    call_command("createuser", "Ops@Example.com", password=PASSWORD)
    user = get_user_model().objects.get(username="ops@example.com")
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.primary, address.verified) == ("ops@example.com", True, True)
    response = login(client, "ops@example.com")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:websites")
    assert logged_in_user_id(client) == str(user.pk)


def test_wrong_password_does_not_log_in(client):
    call_command("createuser", "ops@example.com", password=PASSWORD)
    response = login(client, "ops@example.com", "wrong-password-123")
    assert response.status_code == 200
    assert b"not correct" in response.content
    assert logged_in_user_id(client) is None


def test_failed_logins_are_rate_limited(client):
    call_command("createuser", "ops@example.com", password=PASSWORD)
    for _ in range(5):
        login(client, "ops@example.com", "wrong-password-123")
    # Even the right password is refused until the window passes.
    response = login(client, "ops@example.com")
    assert response.status_code in (200, 429)
    assert b"Too many failed login attempts" in response.content
    assert logged_in_user_id(client) is None


def test_logout_needs_a_post(client):
    user = make_user()
    client.force_login(user)
    response = client.get(reverse("account_logout"))
    assert response.status_code == 200  # a confirmation page
    assert logged_in_user_id(client) == str(user.pk)
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert logged_in_user_id(client) is None


def test_logout_enforces_csrf():
    client = Client(enforce_csrf_checks=True)
    user = make_user()
    client.force_login(user)
    assert client.post(reverse("account_logout")).status_code == 403
    assert logged_in_user_id(client) == str(user.pk)


def test_password_reset_mails_a_link_without_revealing_whether_the_address_exists(client):
    call_command("createuser", "ops@example.com", password=PASSWORD)
    url = reverse("account_reset_password")
    known = client.post(url, {"email": "ops@example.com"})
    unknown = client.post(url, {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("account_reset_password_done")
    to_known = [m for m in mail.outbox if m.to == ["ops@example.com"]]
    assert len(to_known) == 1
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+", to_known[0].body)
    assert link is not None
    # Nobody else's address gets a reset link.
    assert all("/password/reset/key/" not in m.body for m in mail.outbox if m not in to_known)

    # Follow the link and set a new password; the new one logs in.
    path = link.group(0).split("://", 1)[1].split("/", 1)[1]
    form = client.get("/" + path, follow=True)
    assert form.status_code == 200
    new = "a-brand-new-passphrase-7"
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else "/" + path,
        {"password1": new, "password2": new},
    )
    assert done.status_code == 302
    assert login(Client(), "ops@example.com", new).status_code == 302


def test_password_change(client):
    user = make_user()
    client.force_login(user)
    new = "another-long-passphrase-3"
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new, "password2": new},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)


def test_rate_limits_are_on(settings):
    from allauth.account import app_settings

    assert getattr(settings, "ACCOUNT_RATE_LIMITS", None) is not False
    assert app_settings.RATE_LIMITS.get("login_failed")


@pytest.mark.parametrize(
    "name",
    ["account_login", "account_signup", "account_reset_password", "account_reset_password_done"],
)
def test_entrance_pages_use_our_layout(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert "simple_analytics/app.css" in html
    assert 'class="container entrance' in html
    assert "<script>" not in html and " style=" not in html


@pytest.mark.parametrize(
    "name", ["account_email", "account_change_password", "mfa_index", "account_logout"]
)
def test_account_pages_use_our_layout(client, name):
    client.force_login(make_user())
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert "simple_analytics/app.css" in html
    assert 'class="subnav"' in html
    assert " style=" not in html


def test_two_factor_can_be_activated_with_totp(client):
    from allauth.mfa.models import Authenticator

    user = make_user()
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    client.force_login(user)
    # Activating asks for the password again first.
    page = client.get(reverse("mfa_activate_totp"), follow=True)
    assert page.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))
    assert b"simple_analytics/app.css" in page.content
    response = client.post(page.redirect_chain[-1][0], {"password": PASSWORD})
    assert response.status_code == 302
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    assert b'class="qr"' in page.content
    secret = page.context["form"].secret
    code = totp_code(secret)
    response = client.post(reverse("mfa_activate_totp"), {"code": code})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    # Logging in now asks for the code after the password.
    fresh = Client()
    response = login(fresh, user.email)
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert logged_in_user_id(fresh) is None
