"""Single sign-on without a browser: the settings from the environment, the login page with
and without SSO, who the adapter lets in, and PASSWORD_LOGIN=False. The whole flow through
a real provider in Chromium is test_oidc_browser.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from accounts import sso
from accounts.adapters import SocialAccountAdapter
from accounts.tests.oidc import sso_settings
from simple_analytics.env import ConfigError, env_file
from simple_analytics.testing import make_user

PASSWORD = "correct-horse-battery-9"
# Nothing listens on the discard port: a request to this issuer fails at once.
ISSUER = "http://127.0.0.1:9"
LOGIN_URL = f"/accounts/oidc/{sso.PROVIDER_ID}/login/"


# --- settings from the environment -----------------------------------------------------


def test_email_domains_match_exactly_and_ignore_case():
    allowed = ["corp.example", "@Other.example"]
    assert sso.email_domain_allowed("a@corp.example", allowed)
    assert sso.email_domain_allowed("A@CORP.EXAMPLE", allowed)
    assert sso.email_domain_allowed("b@other.example", allowed)
    assert not sso.email_domain_allowed("a@sub.corp.example", allowed)
    assert not sso.email_domain_allowed("a@corp.example.evil", allowed)
    assert not sso.email_domain_allowed("corp.example", allowed)
    assert sso.email_domain_allowed("anyone@anywhere.example", [])


def test_no_issuer_means_no_provider_and_no_extra_form_action():
    assert sso.providers_setting(issuer_url="", client_id="x", secret="y", name="n") == {}
    assert sso.form_action_sources("") == []
    config = sso.providers_setting(
        issuer_url="https://id.example/realms/a", client_id="c", secret="s", name="Corp"
    )
    (app,) = config["openid_connect"]["APPS"]
    assert app["provider_id"] == "sso" and app["name"] == "Corp"
    assert app["settings"] == {"server_url": "https://id.example/realms/a"}
    assert config["openid_connect"]["OAUTH_PKCE_ENABLED"] is True
    assert sso.form_action_sources("https://id.example:8443/realms/a") == [
        "https://id.example:8443"
    ]


def test_incomplete_sso_settings_are_named():
    assert sso.problem(issuer_url="", client_id="", secret="") == ""
    assert "https://" in sso.problem(issuer_url="id.example", client_id="c", secret="s")
    assert "OIDC_CLIENT_ID" in sso.problem(issuer_url="https://i", client_id="", secret="s")
    assert "OIDC_CLIENT_SECRET_FILE" in sso.problem(
        issuer_url="https://i", client_id="c", secret=""
    )


def test_the_secret_file_is_read_and_an_unreadable_one_is_named(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("OIDC_CLIENT_SECRET_FILE", str(secret))
    assert env_file("OIDC_CLIENT_SECRET_FILE") == "s3cret"
    monkeypatch.setenv("OIDC_CLIENT_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="OIDC_CLIENT_SECRET_FILE: cannot read"):
        env_file("OIDC_CLIENT_SECRET_FILE")
    (tmp_path / "empty").write_text("\n")
    monkeypatch.setenv("OIDC_CLIENT_SECRET_FILE", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="is empty"):
        env_file("OIDC_CLIENT_SECRET_FILE")
    monkeypatch.delenv("OIDC_CLIENT_SECRET_FILE")
    assert env_file("OIDC_CLIENT_SECRET_FILE") == ""


def _start(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "DEBUG": "True"}
    return subprocess.run(
        [sys.executable, "-m", "simple_analytics", "check"],
        env=base | env,
        capture_output=True,
        text=True,
    )


def test_the_app_refuses_to_start_with_an_unreadable_secret_file_or_no_way_to_log_in(tmp_path):
    result = _start(
        tmp_path,
        OIDC_ISSUER_URL="https://id.example",
        OIDC_CLIENT_ID="analytics",
        OIDC_CLIENT_SECRET_FILE=str(tmp_path / "missing"),
    )
    assert result.returncode != 0
    assert "OIDC_CLIENT_SECRET_FILE: cannot read" in result.stderr
    result = _start(tmp_path, PASSWORD_LOGIN="False")
    assert result.returncode != 0
    assert "PASSWORD_LOGIN=False needs OIDC_ISSUER_URL" in result.stderr
    secret = tmp_path / "secret"
    secret.write_text("s3cret")
    result = _start(
        tmp_path,
        OIDC_ISSUER_URL="https://id.example",
        OIDC_CLIENT_ID="analytics",
        OIDC_CLIENT_SECRET_FILE=str(secret),
        PASSWORD_LOGIN="False",
    )
    assert result.returncode == 0, result.stderr


# --- the login page ------------------------------------------------------------------


@pytest.fixture
def no_requests(monkeypatch):
    """Fail any HTTP request allauth would make (it uses ``requests``)."""
    import requests

    def refuse(*args, **kwargs):
        raise AssertionError(f"unexpected HTTP request: {args} {kwargs}")

    monkeypatch.setattr(requests.Session, "request", refuse)


@pytest.mark.django_db
def test_without_an_issuer_nothing_about_sso_shows_and_nothing_is_fetched(no_requests):
    client = Client()
    page = client.get(reverse("account_login")).content.decode()
    assert "Sign in with" not in page and "/accounts/oidc/" not in page
    assert 'name="password"' in page
    assert client.post(LOGIN_URL).status_code == 404
    assert client.get(f"{LOGIN_URL}callback/?code=x&state=y").status_code == 404


@pytest.mark.django_db
def test_with_an_issuer_the_login_page_posts_to_the_provider_login(no_requests):
    with override_settings(**sso_settings(ISSUER)):
        client = Client()
        response = client.get(reverse("account_login") + "?next=/websites/")
    page = response.content.decode()
    assert "Sign in with Acme SSO" in page
    assert f'<form class="form sso-login" method="post" action="{LOGIN_URL}">' in page
    sso_form = page.split('class="form sso-login"')[1].split("</form>")[0]
    assert 'name="csrfmiddlewaretoken"' in sso_form
    assert 'name="next" value="/websites/"' in sso_form
    # The password form is still there, and the provider is allowed as a form target.
    assert 'name="password"' in page
    assert "form-action 'self' http://127.0.0.1:9" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_an_unreachable_provider_gives_an_error_page_not_a_500():
    with override_settings(**sso_settings(ISSUER)):
        response = Client().post(LOGIN_URL)
    assert response.status_code == 502
    assert b"could not be reached" in response.content
    assert b"simple_analytics/app.css" in response.content


# --- who single sign-on lets in ------------------------------------------------------


def _sociallogin(email: str, *, verified: bool = True) -> SocialLogin:
    account = SocialAccount(provider="sso", uid=email)
    addresses = [EmailAddress(email=email, verified=verified, primary=True)] if email else []
    return SocialLogin(account=account, email_addresses=addresses)


def _refusal(email: str, *, verified: bool = True) -> str | None:
    request = RequestFactory().get("/accounts/oidc/sso/login/callback/")
    try:
        SocialAccountAdapter(request).pre_social_login(
            request, _sociallogin(email, verified=verified)
        )
    except ImmediateHttpResponse as exc:
        assert exc.response.status_code == 403
        return exc.response.content.decode()
    return None


@pytest.mark.django_db
def test_only_verified_emails_of_allowed_domains_come_in():
    with override_settings(**sso_settings(ISSUER, domains=("corp.example",))):
        assert _refusal("alice@corp.example") is None
        assert _refusal("Alice@CORP.example") is None
        refused = _refusal("mallory@elsewhere.example")
        assert refused and "mallory@elsewhere.example is not in a domain allowed" in refused
        refused = _refusal("carol@corp.example", verified=False)
        assert refused and "did not confirm an email address" in refused
        assert _refusal("") is not None
    with override_settings(**sso_settings(ISSUER, domains=())):
        assert _refusal("mallory@elsewhere.example") is None
        assert _refusal("mallory@elsewhere.example", verified=False) is not None


@pytest.mark.django_db
def test_sso_sign_up_does_not_depend_on_password_sign_up():
    request = RequestFactory().get("/")
    with override_settings(**sso_settings(ISSUER, password_login=False), REGISTRATION_OPEN=False):
        assert SocialAccountAdapter(request).is_open_for_signup(
            request, _sociallogin("a@corp.example")
        )


# --- PASSWORD_LOGIN=False ------------------------------------------------------------


@pytest.mark.django_db
def test_without_password_login_the_form_is_gone_and_passwords_are_refused():
    user = make_user("pat@corp.example")
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    with override_settings(**sso_settings(ISSUER, password_login=False)):
        client = Client()
        page = client.get(reverse("account_login")).content.decode()
        assert 'name="password"' not in page and 'name="login"' not in page
        assert "Sign in with Acme SSO" in page and "Create an account" not in page

        response = client.post(
            reverse("account_login"), {"login": user.email, "password": PASSWORD}
        )
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session
        assert "Password login is turned off" in response.content.decode()
        # The admin's door is allauth's: refused the same way.
        client.post("/admin/login/", {"username": user.email, "password": PASSWORD})
        assert "_auth_user_id" not in client.session

        signup = client.post(
            reverse("account_signup"),
            {"email": "new@corp.example", "password1": PASSWORD, "password2": PASSWORD},
        )
        assert b"Sign-up is closed" in signup.content
        assert not get_user_model().objects.filter(email="new@corp.example").exists()

        reset = client.post(reverse("account_reset_password"), {"email": user.email})
        assert reset.status_code == 200
        assert "Password login is turned off" in reset.content.decode()
        assert mail.outbox == []

        # createuser still makes the account (and its verified address): its owner comes
        # in through SSO with that email, which connects the two.
        call_command("createuser", "ops@corp.example", "--password", PASSWORD)
        assert EmailAddress.objects.get(email="ops@corp.example").verified

    # Turned back on, the same password works again: nothing was wiped.
    response = Client().post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
