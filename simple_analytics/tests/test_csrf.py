"""CSRF on every state-changing request, and the security headers of every page.

With ``Client(enforce_csrf_checks=True)``: every route but the ingest endpoint refuses a
POST without a token (the walk over the resolver covers new routes), each real form is
shown to go through *with* its token (so the 403 is about CSRF and nothing else), logout
needs a POST, and ``/api/event`` is CSRF-exempt by design: no cookies, no credentials,
and it sets none.

Headers: every HTML page has a Content-Security-Policy without ``'unsafe-inline'`` for
scripts or styles, ``nosniff`` and framing denied, and carries no inline code the policy
would block (no ``<script>`` without ``src``, no ``style`` or ``on*`` attributes).
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from api.models import ApiKey
from simple_analytics.testing import DESKTOP_UA, make_website
from simple_analytics.tests.routes import all_routes, category, urls
from tracking.models import Event
from websites.models import Website

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"  # make_user's default
CSRF_EXEMPT = {
    "collect",  # POST /api/event: cookieless ingestion from any origin
    # A mail provider's one-click unsubscribe (RFC 8058): no cookies, the URL's token is the key.
    "reports:unsubscribe",
    # The sites API: a key in a header is its only credential, and no cross-site page can
    # make a browser send one.
    *(r.name for r in all_routes() if category(r) == "sites_api"),
}


@pytest.fixture
def owner(world):
    return world.owner


@pytest.fixture
def website(world):
    return world.website


@pytest.fixture
def key(world) -> ApiKey:
    return world.owner_key


def csrf_client(user: Any = None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


def token_for(client: Client, page: str) -> str:
    """The token a browser would send: the form page sets the CSRF cookie."""
    assert client.get(page).status_code == 200
    return client.cookies["csrftoken"].value


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def state() -> tuple[Any, ...]:
    users = list(get_user_model().objects.order_by("pk").values("pk", "email", "password"))
    sites = list(Website.objects.order_by("pk").values())
    keys = list(ApiKey.objects.order_by("pk").values("pk", "name", "revoked_at"))
    return users, sites, keys, Event.objects.count()


# --- every route ----------------------------------------------------------------------


ROUTES = [r for r in all_routes() if r.name not in CSRF_EXEMPT]


def test_every_route_but_ingest_refuses_a_post_without_a_token(world, owner, website):
    assert {r.name for r in all_routes()} >= CSRF_EXEMPT
    before = state()
    refused = []
    for route in ROUTES:
        url = urls(route, world)[0]
        for who in (owner, None):
            response = csrf_client(who).post(url, {"name": "x", "confirm": website.domain})
            if response.status_code != 403:
                refused.append(
                    f"{route.id} as {'owner' if who else 'anonymous'}: {response.status_code}"
                )
            elif category(route) != "api":
                # Our page, which says what happened (the stats API answers in JSON anyway).
                assert b"This form has expired" in response.content
    assert refused == [], "\n".join(refused)
    assert state() == before


# --- each real form: refused without its token, accepted with it ----------------------


def test_adding_a_website_needs_the_token(owner):
    client = csrf_client(owner)
    data = {"domain": "new.example", "timezone": "UTC"}
    assert client.post(reverse("websites:add"), data).status_code == 403
    assert not Website.objects.filter(domain="new.example").exists()

    data["csrfmiddlewaretoken"] = token_for(client, reverse("websites:add"))
    assert client.post(reverse("websites:add"), data).status_code == 302
    assert Website.objects.filter(domain="new.example", owner=owner).exists()


def test_editing_and_deleting_a_website_need_the_token(owner, website):
    client = csrf_client(owner)
    edit = reverse("websites:edit", args=[website.pk])
    delete = reverse("websites:delete", args=[website.pk])
    changes = {"domain": "changed.example", "name": "Changed", "timezone": "UTC"}
    before = state()
    assert client.post(edit, changes).status_code == 403
    assert client.post(delete, {"confirm": website.domain}).status_code == 403
    assert state() == before

    token = token_for(client, edit)
    assert client.post(edit, {**changes, "csrfmiddlewaretoken": token}).status_code == 302
    website.refresh_from_db()
    assert website.domain == "changed.example"
    confirm = {"confirm": "changed.example", "csrfmiddlewaretoken": token}
    assert client.post(delete, confirm).status_code == 302
    assert not Website.objects.filter(pk=website.pk).exists()


def test_creating_and_revoking_api_keys_need_the_token(world, owner, key):
    client = csrf_client(owner)
    create = reverse("api:key_create")
    revoke = reverse("api:key_revoke", args=[key.pk])
    before = state()
    assert client.post(create, {"name": "new"}).status_code == 403
    assert client.post(revoke).status_code == 403
    assert state() == before

    token = token_for(client, reverse("api:keys"))
    assert client.post(create, {"name": "new", "csrfmiddlewaretoken": token}).status_code == 302
    assert client.post(revoke, {"csrfmiddlewaretoken": token}).status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert ApiKey.objects.filter(name="new", revoked_at=None).count() == 1


def test_logout_needs_a_post_with_the_token(owner):
    client = csrf_client(owner)
    logout = reverse("account_logout")
    page = client.get(logout)  # a confirmation page, not a logout
    assert page.status_code == 200
    assert logged_in(client)
    assert client.post(logout).status_code == 403
    assert logged_in(client)

    # The log-out button of every page (the top bar) carries the token.
    token = token_for(client, reverse("dashboard:websites"))
    assert client.post(logout, {"csrfmiddlewaretoken": token}).status_code == 302
    assert not logged_in(client)


def test_changing_the_password_needs_the_token(owner):
    client = csrf_client(owner)
    change = reverse("account_change_password")
    data = {
        "oldpassword": PASSWORD,
        "password1": "a-new-pass-phrase-7",
        "password2": "a-new-pass-phrase-7",
    }
    assert client.post(change, data).status_code == 403
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)

    data["csrfmiddlewaretoken"] = token_for(client, change)
    assert client.post(change, data).status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a-new-pass-phrase-7")


def test_signing_up_needs_the_token(db):
    client = csrf_client()
    signup = reverse("account_signup")
    data = {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post(signup, data).status_code == 403
    assert not get_user_model().objects.filter(email="new@example.com").exists()
    assert not logged_in(client)

    data["csrfmiddlewaretoken"] = token_for(client, signup)
    assert client.post(signup, data).status_code == 302
    assert get_user_model().objects.filter(email="new@example.com").exists()
    assert logged_in(client)


def test_logging_in_needs_the_token(owner):
    client = csrf_client()
    login = reverse("account_login")
    data = {"login": owner.email, "password": PASSWORD}
    assert client.post(login, data).status_code == 403
    assert not logged_in(client)

    data["csrfmiddlewaretoken"] = token_for(client, login)
    assert client.post(login, data).status_code == 302
    assert logged_in(client)


def test_a_token_from_another_origin_is_refused(owner):
    """Login CSRF from a hostile page that somehow holds a token: the Origin check."""
    client = csrf_client()
    login = reverse("account_login")
    token = token_for(client, login)
    data = {"login": owner.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    assert client.post(login, data, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert not logged_in(client)


def test_the_ingest_endpoint_is_csrf_exempt_and_sets_no_cookies(website):
    client = csrf_client()
    body = {"site": website.tracking_id, "type": "PAGE_VIEW", "url": "https://owner-9f2c.example/x"}
    before = Event.objects.count()
    response = client.post(
        "/api/event",
        json.dumps(body),
        content_type="text/plain",
        HTTP_USER_AGENT=DESKTOP_UA,
        HTTP_ORIGIN="https://owner-9f2c.example",
    )
    assert response.status_code == 202
    assert Event.objects.count() == before + 1
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    assert not client.cookies
    # Open to any origin, and never with credentials.
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


# --- security headers and no inline code ----------------------------------------------


def csp(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    out = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        out[name] = values
    return out


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            self._script_without_src = "src" not in names
            if names.get("type") not in (None, "module", "text/javascript"):
                self._script_without_src = False  # data blocks (JSON) are not executed
        if tag == "style":
            self.found.append("<style> element")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_data(self, data: str) -> None:
        if self._script_without_src and data.strip():
            self.found.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_without_src = False


def assert_secure_page(response, what: str) -> None:
    policy = csp(response)
    assert policy, f"{what}: no Content-Security-Policy"
    script_src = policy.get("script-src", policy.get("default-src"))
    style_src = policy.get("style-src", policy.get("default-src"))
    assert script_src and style_src, f"{what}: {policy}"
    for bad in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        assert bad not in script_src, f"{what}: script-src has {bad}"
    assert "'unsafe-inline'" not in style_src, f"{what}: style-src has 'unsafe-inline'"
    assert policy.get("object-src") == ["'none'"], what
    assert policy.get("frame-ancestors") == ["'none'"], what
    assert response["X-Frame-Options"] == "DENY", what
    assert response["X-Content-Type-Options"] == "nosniff", what
    parser = InlineCode()
    parser.feed(response.content.decode())
    assert parser.found == [], f"{what}: inline code a strict CSP blocks: {parser.found}"


def test_every_page_has_a_strict_csp_and_no_inline_code(world, owner, website):
    """Every HTML page the owner can GET (found by walking the routes), plus the pages an
    anonymous visitor sees and the error pages."""
    empty = make_website(owner=owner, domain="empty.example")  # the dashboard's empty state
    owner_client, anonymous = Client(), Client()
    owner_client.force_login(owner)
    pages: list[tuple[Client, str]] = []
    for route in all_routes():
        url = urls(route, world)[0]
        pages.append((owner_client, url))
        if category(route) == "public":
            pages.append((anonymous, url))
    dashboard = reverse("dashboard:overview", args=[website.pk])
    pages += [
        (owner_client, reverse("dashboard:overview", args=[empty.pk])),
        (owner_client, reverse("dashboard:snippet", args=[empty.pk])),
        (owner_client, f"{dashboard}?period=today&page=/&browser=Chrome"),  # filter chips
        (owner_client, f"{dashboard}?period=nonsense"),  # the 400 page
        (owner_client, reverse("websites:edit", args=[999_999])),  # the 404 page
    ]
    checked = []
    for client, url in pages:
        response = client.get(url)
        html = response.headers.get("Content-Type", "").startswith("text/html")
        if html and not 300 <= response.status_code < 400 and not response.streaming:
            assert_secure_page(response, url)
            checked.append(url)
    assert reverse("dashboard:overview", args=[website.pk]) in checked
    assert f"{dashboard}?period=nonsense" in checked
    assert len(checked) >= 20, checked


def test_json_and_script_responses_are_not_sniffed(website, key):
    client = Client()
    pixel = client.get("/pixel.js")
    assert pixel["X-Content-Type-Options"] == "nosniff"
    assert "javascript" in pixel["Content-Type"]
    api = client.get(
        "/api/v1/stats", {"site": website.tracking_id}, HTTP_AUTHORIZATION="Bearer nope"
    )
    assert api["X-Content-Type-Options"] == "nosniff"
    assert api["Content-Type"] == "application/json"


def test_refusals_have_the_strict_csp_too(world, owner):
    """Pages answered before or instead of a view: the CSRF refusal, a throttled password
    reset, a Host we do not serve (the error pages of views: test_deploy.py)."""
    refused = csrf_client(owner).post(reverse("websites:add"), {"domain": "x.example"})
    assert refused.status_code == 403
    assert_secure_page(refused, "CSRF refusal")

    client = Client()
    for _ in range(10):
        throttled = client.post(reverse("account_reset_password"), {"email": owner.email})
        if throttled.status_code == 429:
            break
    assert throttled.status_code == 429
    assert_secure_page(throttled, "throttled password reset")

    # CommonMiddleware refuses it before X-Frame-Options is added; the policy's
    # frame-ancestors 'none' still forbids framing it.
    bad_host = Client().get(reverse("account_login"), HTTP_HOST="evil.example")
    assert bad_host.status_code == 400
    assert csp(bad_host)["frame-ancestors"] == ["'none'"]
    assert csp(bad_host)["script-src"] == ["'self'"]
