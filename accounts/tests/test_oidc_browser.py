"""Single sign-on end to end: Chromium, this app's live server, and a real OpenID Connect
provider process on loopback (npm's ``oidc-provider``, ``oidc_provider.mjs``) with its
own login and consent pages. The app is pointed at it the way settings.py would be from
OIDC_* variables (``oidc.sso_settings``). Requests off loopback are aborted: nothing here
may need the internet (the provider's development pages import a web font)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import override_settings

from accounts.tests.oidc import NAME, callback_url, oidc_provider, sso_settings
from simple_analytics.testing import DESKTOP_UA, make_user, totp_code
from simple_analytics.tests.browser import TIMEOUT_S, Watcher, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="module")
def issuer(live_server) -> Iterator[str]:
    with oidc_provider(callback_url(live_server.url)) as url:
        yield url


@pytest.fixture
def new_page(browser) -> Iterator[Callable[[], Any]]:
    """A page in a fresh context: no session here and none at the provider."""
    opened: list[Any] = []

    def open_page() -> Any:
        context = browser.new_context(
            user_agent=DESKTOP_UA, viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(TIMEOUT_S * 1000)
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if urlsplit(route.request.url).hostname in ("localhost", "127.0.0.1")
                else route.abort()
            ),
        )
        opened.append(context)
        return context.new_page()

    yield open_page
    for context in opened:
        context.close()


def sign_in_with_sso(page: Any, base_url: str, login: str) -> None:
    """From our login page through the provider's login and consent pages."""
    page.goto(f"{base_url}/accounts/login/")
    page.click(f"form.sso-login button:has-text('Sign in with {NAME}')")
    page.wait_for_selector('input[name="login"]')  # the provider's own page
    assert urlsplit(page.url).hostname == "127.0.0.1"
    page.fill('input[name="login"]', login)
    page.fill('input[name="password"]', "any password: the test provider takes it")
    page.click('button[type="submit"]')
    page.click('button:has-text("Continue")')  # consent
    page.wait_for_url(lambda url: urlsplit(url).netloc == urlsplit(base_url).netloc)


def verified_user(email: str) -> Any:
    user = make_user(email)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


def test_sso_logs_in_an_existing_account_and_signs_up_a_new_one(live_server, issuer, new_page):
    alice = verified_user("alice@corp.example")
    with override_settings(**sso_settings(issuer)):
        page = new_page()
        sign_in_with_sso(page, live_server.url, "alice")
        page.wait_for_url(f"{live_server.url}/websites/")
        # The existing account, now connected; its verified address kept its password.
        account = SocialAccount.objects.get(provider="sso", uid="alice")
        assert account.user_id == alice.pk
        alice.refresh_from_db()
        assert alice.has_usable_password()
        assert "alice@corp.example" in page.content()

        page = new_page()
        sign_in_with_sso(page, live_server.url, "bob")
        page.wait_for_url(f"{live_server.url}/websites/")
        bob = get_user_model().objects.get(email__iexact="bob@corp.example")
        assert SocialAccount.objects.get(provider="sso", uid="bob").user_id == bob.pk
        assert EmailAddress.objects.get(user=bob).verified
        assert not bob.has_usable_password()


@pytest.mark.parametrize(
    ("login", "reason"),
    [
        ("mallory", "mallory@elsewhere.example is not in a domain allowed"),
        ("unverified", "did not confirm an email address"),
    ],
)
def test_sso_refuses_other_domains_and_unverified_emails(
    live_server, issuer, new_page, login, reason
):
    users_before = get_user_model().objects.count()
    with override_settings(**sso_settings(issuer)):
        page = new_page()
        sign_in_with_sso(page, live_server.url, login)
        page.wait_for_selector("h1:has-text('Sign-in refused')")
        assert reason in page.content()
        page.goto(f"{live_server.url}/websites/")
        assert urlsplit(page.url).path == "/accounts/login/"  # not logged in
    assert get_user_model().objects.count() == users_before
    assert not SocialAccount.objects.exists()


def test_a_totp_user_still_gives_the_code_after_sso(live_server, issuer, new_page):
    alice = verified_user("alice@corp.example")
    secret = generate_totp_secret()
    TOTP.activate(alice, secret)
    with override_settings(**sso_settings(issuer)):
        page = new_page()
        sign_in_with_sso(page, live_server.url, "alice")
        page.wait_for_url(f"{live_server.url}/accounts/2fa/authenticate/")
        page.fill('input[name="code"]', totp_code(secret))
        page.click('main form button[type="submit"]')
        page.wait_for_url(f"{live_server.url}/websites/")


def test_without_password_login_only_the_sso_button_is_left(live_server, issuer, new_page):
    pat = verified_user("pat@corp.example")
    with override_settings(**sso_settings(issuer, password_login=False)):
        page = new_page()
        watcher = Watcher()
        watcher.attach(page)
        page.goto(f"{live_server.url}/accounts/login/")
        assert page.locator('input[name="password"]').count() == 0
        assert page.locator("form.sso-login button").inner_text() == f"Sign in with {NAME}"
        watcher.assert_clean(page, "login page without passwords")
        # A password posted anyway (an old bookmark, a script) is refused.
        page.evaluate(
            """([email, password]) => {
                 const form = document.createElement("form");
                 form.method = "post";
                 form.action = "/accounts/login/";
                 const fields = {login: email, password,
                   csrfmiddlewaretoken: document.querySelector("[name=csrfmiddlewaretoken]").value};
                 for (const [name, value] of Object.entries(fields)) {
                   const input = document.createElement("input");
                   Object.assign(input, {type: "hidden", name, value});
                   form.append(input);
                 }
                 document.body.append(form);
                 form.submit();
               }""",
            [pat.email, PASSWORD],
        )
        page.wait_for_selector("text=Password login is turned off")
        assert urlsplit(page.url).path == "/accounts/login/"
        # The SSO button still works for the same person.
        sign_in_with_sso(page, live_server.url, "pat")
        page.wait_for_url(f"{live_server.url}/websites/")


def test_a_password_user_can_still_turn_on_two_factor(live_server, issuer, new_page):
    user = verified_user("pw@corp.example")
    with override_settings(**sso_settings(issuer)):
        page = new_page()
        log_in(page, live_server.url, user.email, PASSWORD)
        page.goto(f"{live_server.url}/accounts/2fa/totp/activate/")
        # Activating asks for the password again first: with SSO on, it still works.
        page.wait_for_url("**/accounts/reauthenticate/**")
        page.fill('input[name="password"]', PASSWORD)
        page.click('main form button[type="submit"]')
        secret = page.input_value("#authenticator_secret")
        assert secret
        page.fill('input[name="code"]', totp_code(secret))
        page.click('main form button[type="submit"]')
        page.wait_for_url(lambda url: "/activate/" not in url)
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
