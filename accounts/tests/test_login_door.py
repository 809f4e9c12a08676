"""One login door: every login URL the resolver has leads through allauth's login, so a
staff user with TOTP is not logged in until the code is given, and passwords tried at the
admin's door meet allauth's rate limits. The doors come from the resolver, so a login view
added later (Django's ``auth.urls``, a second admin site) is tested the day it appears."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account import views as account_views
from allauth.account.models import EmailAddress
from allauth.mfa.base import views as mfa_views
from allauth.mfa.totp.internal.auth import (
    TOTP,
    generate_totp_secret,
)
from django.conf import settings as django_settings
from django.contrib.admin.sites import AdminSite
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.views.generic import RedirectView

from simple_analytics.testing import make_user, totp_code
from simple_analytics.tests.routes import Route, all_routes

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"

# Views that take a password or a code to start or finish a login.
LOGIN_VIEW_CLASSES = (
    auth_views.LoginView,
    account_views.LoginView,
    account_views.RequestLoginCodeView,
    account_views.ConfirmLoginCodeView,
    mfa_views.AuthenticateView,
)


def is_login_view(route: Route) -> bool:
    view_class = getattr(route.callback, "view_class", None)
    # Single sign-on takes no password and no code (the provider does); its logins pass the
    # same second-factor stage (test_oidc_browser.py). allauth's old social/ URLs redirect.
    module = getattr(route.callback, "__module__", "") or ""
    if module.startswith("allauth.socialaccount") or view_class is RedirectView:
        return False
    if isinstance(view_class, type) and issubclass(view_class, LOGIN_VIEW_CLASSES):
        return True
    if isinstance(getattr(route.callback, "__self__", None), AdminSite):
        return getattr(route.callback, "__name__", "") == "login"
    return "login" in (route.name or "") or "login" in route.pattern


DOORS = [r for r in all_routes() if is_login_view(r)]
DOOR_URLS = sorted({r.url({}) for r in DOORS} | {"/admin/login/"})


def test_the_walk_finds_the_login_doors():
    names = {r.name for r in DOORS}
    assert {"account_login", "admin:login", "mfa_authenticate"} <= names, names
    assert "/admin/login/" in DOOR_URLS and reverse("account_login") in DOOR_URLS


def make_staff(email: str = "staff@example.com", *, totp: bool = False):
    user = make_user(email)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    secret = generate_totp_secret()
    if totp:
        TOTP.activate(user, secret)  # as allauth's own tests make a TOTP user
    return user, secret


def credentials(email: str, password: str) -> dict[str, str]:
    # Both forms' field names: allauth's ``login``, the Django admin's ``username``.
    return {"login": email, "username": email, "password": password}


def logged_in_as(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def is_door(location: str) -> bool:
    return urlsplit(location).path in DOOR_URLS


def post_password(client: Client, url: str, email: str, password: str):
    """Post the password to ``url`` and, like a browser submitting the form it is sent to,
    to every login page it redirects to; returns the last answer."""
    response = client.post(url, credentials(email, password))
    for _ in range(4):
        location = response.headers.get("Location", "")
        if response.status_code != 302 or not is_door(location):
            break
        if urlsplit(location).path == reverse("mfa_authenticate"):
            break
        response = client.post(location, credentials(email, password))
    return response


@pytest.mark.parametrize("url", DOOR_URLS)
def test_no_login_door_skips_the_second_factor(url):
    staff, secret = make_staff(totp=True)
    client = Client()

    response = post_password(client, url, staff.email, PASSWORD)
    assert logged_in_as(client) is None, f"{url} logged in with the password alone"
    assert response.status_code == 302, (url, response.status_code)
    assert urlsplit(response["Location"]).path == reverse("mfa_authenticate"), response["Location"]
    admin = client.get(reverse("admin:index"))
    assert admin.status_code == 302 and logged_in_as(client) is None

    # The code finishes the login, and the admin opens.
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.status_code == 302, response.content
    assert logged_in_as(client) == str(staff.pk)
    if url == "/admin/login/":
        assert response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("url", DOOR_URLS)
def test_a_logged_in_staff_member_cannot_switch_to_another_staff_account(url):
    # Django's admin form, offered to a logged-in user, would log in whoever's password it
    # is given, without their second factor.
    make_staff("second@example.com", totp=True)
    first, _ = make_staff("first@example.com")
    client = Client()
    client.force_login(first)
    post_password(client, url, "second@example.com", PASSWORD)
    assert logged_in_as(client) in (str(first.pk), None), url


def test_the_admin_door_sends_everyone_through_allauth():
    login = reverse("account_login")

    def answer(client: Client, url: str) -> tuple[int, str, dict[str, list[str]]]:
        response = client.get(url)
        where = urlsplit(response.headers.get("Location", ""))
        return response.status_code, where.path, parse_qs(where.query)

    anonymous = Client()
    assert answer(anonymous, "/admin/login/") == (302, login, {"next": ["/admin/"]})
    # The page asked for is kept; a URL elsewhere is not followed.
    asked = "/admin/auth/user/?o=1"
    assert answer(anonymous, f"/admin/login/?next={asked.replace('?', '%3F')}") == (
        302,
        login,
        {"next": [asked]},
    )
    for foreign in ("https://evil.example/", "//evil.example/admin/"):
        assert answer(anonymous, f"/admin/login/?next={foreign}") == (
            302,
            login,
            {"next": ["/admin/"]},
        )
    # Any admin page leads there too, through the admin's own login URL.
    response = anonymous.get("/admin/auth/user/", follow=True)
    assert response.redirect_chain[-1][0].startswith(login + "?")
    assert response.status_code == 200 and b'name="login"' in response.content

    not_staff = Client()
    not_staff.force_login(make_user("member@example.com"))
    assert not_staff.get("/admin/login/").status_code == 403
    response = not_staff.post("/admin/login/", credentials("member@example.com", PASSWORD))
    assert response.status_code == 403

    staff = Client()
    staff.force_login(make_staff()[0])
    assert answer(staff, "/admin/login/?next=/admin/auth/") == (302, "/admin/auth/", {})


# --- rate limits ---------------------------------------------------------------------------


def rates() -> tuple[int, int]:
    """(per address, per account) amounts of allauth's ``login_failed`` limit."""
    per_ip, per_key = django_settings.ACCOUNT_RATE_LIMITS["login_failed"].split(",")
    assert per_ip.endswith("/ip") and per_key.endswith("/key")
    return int(per_ip.split("/")[0]), int(per_key.split("/")[0])


def blocked(response) -> bool:
    return response.status_code == 429 or b"Too many failed login attempts" in response.content


def test_the_admin_door_checks_no_password():
    staff, _ = make_staff()
    clients = Client(), Client()
    right = clients[0].post("/admin/login/", credentials(staff.email, PASSWORD))
    wrong = clients[1].post("/admin/login/", credentials(staff.email, "wrong-password-1"))
    assert right.status_code == wrong.status_code == 302
    assert right["Location"] == wrong["Location"] == reverse("account_login") + "?next=/admin/"
    assert logged_in_as(clients[0]) is None and logged_in_as(clients[1]) is None
    staff.refresh_from_db()
    assert staff.last_login is None


def test_wrong_passwords_through_the_admin_door_are_throttled_like_allauths_login():
    staff, _ = make_staff()
    per_ip, per_key = rates()

    # Per account: from a new address each time, then the right password from yet another.
    for n in range(per_key):
        response = post_password(
            Client(REMOTE_ADDR=f"198.51.100.{n + 1}"), "/admin/login/", staff.email, "wrong-1"
        )
        assert not blocked(response), n
    for url in ("/admin/login/", reverse("account_login")):
        client = Client(REMOTE_ADDR="198.51.100.99")
        response = post_password(client, url, staff.email, PASSWORD)
        assert blocked(response) and logged_in_as(client) is None, url

    # Per address: failures at either door count against one budget.
    cache.clear()
    for n in range(per_ip):
        url = "/admin/login/" if n % 2 else reverse("account_login")
        client = Client(REMOTE_ADDR="203.0.113.7")
        assert not blocked(post_password(client, url, f"guess{n}@example.com", "wrong-1")), n
    client = Client(REMOTE_ADDR="203.0.113.7")
    response = post_password(client, "/admin/login/", staff.email, PASSWORD)
    assert blocked(response) and logged_in_as(client) is None

    # With the budget fresh, the same walk logs the staff user in: it was the limit.
    cache.clear()
    client = Client(REMOTE_ADDR="203.0.113.7")
    response = post_password(client, "/admin/login/", staff.email, PASSWORD)
    assert logged_in_as(client) == str(staff.pk)
    assert response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:index")).status_code == 200
