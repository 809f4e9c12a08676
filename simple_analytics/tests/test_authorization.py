"""Every URL pattern of the project, proven scoped to its owner: an authorization matrix of
route x method x principal.

The routes come from the resolver (``routes.all_routes``), so a new route is covered the
day it is added. Its parameters are filled from ``routes.FILLS``; a route the table cannot
fill fails ``test_every_route_is_classified_and_fillable`` until someone says what it
takes. Routes anyone may use are listed by hand in ``routes.PUBLIC``.

Methods: GET and POST always, plus each of HEAD, PUT, PATCH, DELETE and OPTIONS that the
view accepts (the owner's answer is not a 405). Principals: the owner; another logged-in
user, also sending their own API key; an anonymous visitor, also sending the owner's API
key, another user's key or a revoked key (keys never open session pages; every key is
tried on GET, the owner's on POST, plain principals on the other methods). For ``/api/v1/*``: no key, a bad key, a revoked key, a logged-in session without a
key, the key of another user (with and without their session), and every method. Each
request is made with the owner's real ids and with ids that do not exist, and we demand:

- another user gets a 404 on everything under an owner's object, byte-for-byte the same
  page as for an id that does not exist (no existence leak);
- an anonymous visitor is sent to the login page, the same way for both ids;
- the stats API answers 401 without a valid key and, for a site of someone else, the same
  404 as for a site that does not exist;
- nothing in the database changes, whoever asks: every row of every model (``snapshot``),
  so the tables of a new app are covered too.

Members of the owner's team (``test_member_route_needs_its_role``): an admin and a viewer
reach what their role opens (``routes.role_needed``) and get a 403 on the rest, changing
nothing; a viewer's pages link to no page they would be refused. In the sites API a
viewer's read-write key is refused every write with a 403, an admin's is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from django.apps import apps
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.test import Client
from django.utils.html import escape
from django.utils.text import capfirst

from simple_analytics.tests.fuzz import HOSTILE_DIGITS, hostile_dates
from simple_analytics.tests.routes import (
    ADMIN_ROUTES,
    OWNER_ROUTES,
    OWNER_SITE_NAME,
    PER_USER_ROUTES,
    PUBLIC,
    SECRETS,
    STAFF_ONLY,
    all_routes,
    category,
    fills_for,
    numeric_query_parameters,
    role_needed,
    urls,
)
from teams.models import Role, role_at_least

pytestmark = pytest.mark.django_db

ROUTES = all_routes()

# --- database snapshots -------------------------------------------------------------------


# The requester's own login session, and bookkeeping of the requester's own account: when
# it last logged in, and when its key was last used (a valid key used on the wrong site is
# still used).
SKIPPED_MODELS = {"sessions.Session"}
BOOKKEEPING = {("auth.User", "last_login"), ("api.ApiKey", "last_used_at")}


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every model of every installed app, but for ``BOOKKEEPING``."""
    out = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed or meta.label in SKIPPED_MODELS:
            continue
        columns = [
            f.attname for f in meta.concrete_fields if (meta.label, f.name) not in BOOKKEEPING
        ]
        rows = model._default_manager.order_by("pk").values_list(*columns)
        out[meta.label] = [
            tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows
        ]
    return out


def test_the_snapshot_sees_every_app_and_every_change(world):
    before = snapshot()
    assert {
        "auth.User",
        "websites.Website",
        "api.ApiKey",
        "tracking.Event",
        "tracking.Session",
        "account.EmailAddress",
        "goals.Goal",
        "goals.FunnelStep",
        "dashboard.Segment",
    } <= set(before)
    world.website.name = "renamed"
    world.website.save(update_fields=["name"])
    assert snapshot() != before


# --- requests -----------------------------------------------------------------------------

_CSRF_VALUE = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]+"')


def body(response: HttpResponse, *urls_: str) -> bytes:
    """The body without per-request noise: CSRF tokens (masked anew on every render) and
    the requested URL itself."""
    content = b"" if getattr(response, "streaming", False) else response.content
    content = _CSRF_VALUE.sub(rb'\1-"', content)
    for url in urls_:
        for form in (url, quote(url, safe=""), quote(url)):
            content = content.replace(form.encode(), b"<URL>")
    return content


OTHER_METHODS = ("HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")


def request(method: str, url: str, user: Any = None, **headers: str) -> HttpResponse:
    # A fresh client each time: one request's messages or logout cannot leak into the next.
    client = Client()
    if user is not None:
        client.force_login(user)
    if method == "GET":
        return client.get(url, **headers)
    if method == "POST":
        return client.post(url, **headers)
    return client.generic(method, url, **headers)


@dataclass(frozen=True)
class Principal:
    who: str
    user: Any
    headers: dict[str, str]


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def others(world: Any) -> list[Principal]:
    """Everyone who is not the owner, as the session pages see them."""
    return [
        Principal("other user", world.other, {}),
        Principal("other user with their API key", world.other, bearer(world.other_plain_key)),
    ]


def anonymous(world: Any) -> list[Principal]:
    return [
        Principal("anonymous", None, {}),
        Principal("anonymous with the owner's API key", None, bearer(world.owner_plain_key)),
        Principal("anonymous with another user's API key", None, bearer(world.other_plain_key)),
        Principal("anonymous with a revoked API key", None, bearer(world.revoked_plain_key)),
    ]


def location(response: HttpResponse) -> str:
    return response.headers.get("Location", "")


def location_without_url(response: HttpResponse, url: str) -> str:
    """The Location header without the requested URL (plain or percent-quoted)."""
    out = location(response)
    for form in (url, quote(url, safe=""), quote(url)):
        out = out.replace(form, "<URL>")
    return out


def sent_to_login(response: HttpResponse, url: str) -> bool:
    """A redirect to the login page that comes back to ``url`` (however ``next`` is quoted)."""
    target = urlsplit(location(response))
    login = urlsplit(redirect_to_login(url).url)
    return (
        response.status_code == 302
        and target.path == login.path
        and parse_qs(target.query) == parse_qs(login.query) == {"next": [url]}
    )


def assert_staff_only(response: HttpResponse, who: str) -> None:
    # Nobody here is staff: the admin sends them to its login (or index, for logout), its
    # login sends them on to allauth's and back, or it answers 403 / 404 / 405; no page.
    assert response.status_code in (302, 403, 404, 405), f"{who}: {response.status_code}"
    if response.status_code == 302:
        target = urlsplit(location(response))
        back = parse_qs(target.query).get("next", [""])[0]
        to_login = target.path == redirect_to_login("").url.split("?")[0]
        assert target.path.startswith("/admin/") or (to_login and back.startswith("/admin/")), who


def assert_same_answer(a: HttpResponse, b: HttpResponse, url_a: str, url_b: str, who: str) -> None:
    """An existing and a non-existent id must be answered alike (up to the URL itself)."""
    assert a.status_code == b.status_code, f"{who}: {a.status_code} vs {b.status_code}"
    assert location_without_url(a, url_a) == location_without_url(b, url_b), who
    assert body(a, url_a) == body(b, url_b), f"{who}: bodies differ"


# --- tests ----------------------------------------------------------------------------


def test_every_route_is_classified_and_fillable():
    problems = []
    for route in ROUTES:
        try:
            fills_for(route)
        except LookupError as exc:
            problems.append(str(exc))
    names = {r.name for r in ROUTES}
    problems += [f"PUBLIC lists {n!r}, which is no longer a route" for n in PUBLIC - names]
    problems += [f"STAFF_ONLY lists {n!r}, which is no longer a route" for n in STAFF_ONLY - names]
    for listed in (ADMIN_ROUTES, OWNER_ROUTES, PER_USER_ROUTES):
        problems += [f"{n!r} is listed with a role but is no route" for n in listed - names]
    assert not problems, "\n".join(problems)
    # The walk found the routes this file was written against (a sanity check on the walk).
    cats = {r.name: category(r) for r in ROUTES}
    assert cats["dashboard:overview"] == cats["websites:edit"] == cats["api:key_revoke"] == "owned"
    assert cats["dashboard:websites"] == cats["home"] == cats["account_email"] == "login"
    assert cats["api:stats"] == cats["api:breakdown"] == "api"
    assert cats["api:sites"] == cats["api:site_goal"] == "sites_api"


SESSION_ROUTES = [r for r in ROUTES if category(r) not in ("api", "sites_api")]


def accepted_methods(url: str, owner: Any) -> tuple[list[str], dict[str, int]]:
    """GET, POST and every other method the view answers otherwise than with a 405, with the
    owner's status for each. The owner's requests are rolled back."""
    methods, status = [], {}
    for method in ("GET", "POST", *OTHER_METHODS):
        with transaction.atomic():
            response = request(method, url, owner)
            transaction.set_rollback(True)
        status[method] = response.status_code
        assert response.status_code < 500, f"owner {method} {url}: {response.status_code}"
        if method in ("GET", "POST") or response.status_code != 405:
            methods.append(method)
    return methods, status


def pair(method: str, real: str, missing: str, p: Principal) -> tuple[HttpResponse, HttpResponse]:
    """The answers for the real and for the missing id. Rate limits (allauth's, per user or
    IP) start afresh for each pair, so the two requests meet the same budget."""
    cache.clear()
    return (
        request(method, real, p.user, **p.headers),
        request(method, missing, p.user, **p.headers),
    )


@pytest.mark.parametrize("route", SESSION_ROUTES, ids=lambda r: r.id)
def test_session_route_is_scoped_to_its_owner(route, world):
    kind = category(route)
    real, missing = urls(route, world)
    login_path = redirect_to_login("").url.split("?")[0]
    before = snapshot()

    # The owner reaches its own objects: this proves FILLS names real objects, so the 404s
    # below are about access, not about a bad id. Writes are rolled back.
    methods, owner_status = accepted_methods(real, world.owner)
    if kind == "owned":
        for method in methods:
            assert owner_status[method] != 404, f"owner {method} {real} is a 404"
    assert snapshot() == before

    for method in methods:
        # API keys never open session pages: every key on GET, the owner's on POST; the
        # other methods with the plain principals (the matrix is slow enough as it is).
        n_anonymous = {"GET": 4, "POST": 2}.get(method, 1)
        # Another logged-in user, with and without their own API key.
        for principal in others(world)[: 2 if method == "GET" else 1]:
            a, b = pair(method, real, missing, principal)
            who = f"{principal.who}, {method} {real}"
            assert_same_answer(a, b, real, missing, who)
            assert a.status_code < 500, who
            for secret in SECRETS:
                assert secret.encode() not in body(a), f"{who} shows the owner's {secret!r}"
            if kind == "owned":
                expected = 404 if owner_status[method] != 405 else 405
                assert a.status_code == expected, f"{who}: {a.status_code}, expected {expected}"
            if kind == "admin":
                assert_staff_only(a, who)
        if kind == "owned" and method == "GET" and owner_status["GET"] != 405:
            # A bad query string must not be checked before access: a 400 for someone
            # else's site and a 404 for a missing one would tell them apart.
            bad = "?period=bogus&from=x"
            a, b = pair(method, real + bad, missing + bad, others(world)[0])
            assert_same_answer(a, b, real, missing, f"other user, GET {real}{bad}")
            assert a.status_code == 404, f"other user, GET {real}{bad}: {a.status_code}"

        # Anonymous, with and without API keys.
        for principal in anonymous(world)[:n_anonymous]:
            a, b = pair(method, real, missing, principal)
            who = f"{principal.who}, {method} {real}"
            assert_same_answer(a, b, real, missing, who)
            assert a.status_code < 500, who
            if kind in ("owned", "login") and (method in ("GET", "POST") or a.status_code != 405):
                assert sent_to_login(a, real), f"{who}: {a.status_code} {location(a)}"
            elif kind == "admin":
                assert_staff_only(a, who)
            elif kind == "public" and method == "GET":
                assert not location(a).startswith(login_path + "?"), f"{who}: login required"
        # One look at the whole database per method (it is the slow part of this test).
        assert snapshot() == before, f"a non-owner's {method} {real} changed the database"


OWNED_ROUTES = [r for r in SESSION_ROUTES if category(r) == "owned"]


def members(world: Any) -> list[tuple[str, Any, str]]:
    return [("admin", world.admin, Role.ADMIN), ("viewer", world.viewer, Role.VIEWER)]


def _settings_targets(world: Any) -> list[str]:
    """The owner's URLs a viewer is refused: no page of theirs may link or post to them."""
    return [urls(r, world)[0] for r in OWNED_ROUTES if role_needed(r) != Role.VIEWER]


@pytest.mark.parametrize("route", OWNED_ROUTES, ids=lambda r: r.id)
def test_member_route_needs_its_role(route, world):
    """An admin and a viewer of the owner's team: what ``role_needed`` opens answers them
    as it does the owner (writes rolled back); the rest is a 403 that changes nothing. A
    route of the owner's own account is the outsider's 404. The viewer's pages show no
    link or form to a page refused to viewers."""
    real, missing = urls(route, world)
    need = role_needed(route)
    methods, owner_status = accepted_methods(real, world.owner)
    before = snapshot()
    refused_targets = _settings_targets(world)
    for who, user, role in members(world):
        for method in methods:
            if owner_status[method] == 405:
                continue
            label = f"{who}, {method} {real}"
            cache.clear()
            if need is None:
                a, b = request(method, real, user), request(method, missing, user)
                assert a.status_code == 404, f"{label}: {a.status_code}"
                assert_same_answer(a, b, real, missing, label)
            elif not role_at_least(role, need):
                response = request(method, real, user)
                assert response.status_code == 403, f"{label}: {response.status_code}"
                assert snapshot() == before, f"{label} changed the database"
            else:
                with transaction.atomic():
                    response = request(method, real, user)
                    transaction.set_rollback(True)
                assert response.status_code not in (403, 404), f"{label}: {response.status_code}"
                assert response.status_code < 500, f"{label}: {response.status_code}"
                if role == Role.VIEWER and method == "GET" and response.status_code == 200:
                    page = body(response).decode(errors="replace")
                    for target in refused_targets:
                        for attr in ("href", "action"):
                            assert f'{attr}="{target}' not in page, f"{label} has {attr} {target}"
    assert snapshot() == before


API_ROUTES = [r for r in ROUTES if category(r) == "api"]


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: r.id)
def test_api_route_needs_the_owners_key(route, world):
    path, _ = urls(route, world)
    site, other_site = world.website.tracking_id, world.other_website.tracking_id
    missing_site = "no-such-site"
    before = snapshot()

    def call(method: str, site_id: str, key: str | None, user: Any = None) -> HttpResponse:
        url = f"{path}?site={site_id}&period=today"
        response = request(method, url, user, **(bearer(key) if key else {}))
        assert response.status_code < 500, f"{method} {url}: {response.status_code}"
        return response

    owner_answer = call("GET", site, world.owner_plain_key)
    assert owner_answer.status_code == 200, owner_answer.content
    assert snapshot() == before, "the owner's GET changed the database"

    # No key, a bad key, a revoked key, and a logged-in session without a key: 401, the
    # same for an existing and a missing site.
    for key, user in [
        (None, None),
        ("sa_not-a-key", None),
        (world.revoked_plain_key, None),
        (None, world.owner),
        (None, world.other),
        (world.revoked_plain_key, world.owner),
    ]:
        a, b = call("GET", site, key, user), call("GET", missing_site, key, user)
        assert a.status_code == 401, (key, user, a.content)
        assert a.headers["WWW-Authenticate"].startswith("Bearer")
        assert_same_answer(a, b, site, missing_site, f"key {key!r}")
    assert snapshot() == before, "a request without a valid key changed the database"

    # The key of another user (with or without their session, or the owner's): the owner's
    # site is a 404 like a site that does not exist, and like a missing site asked with the
    # owner's own key.
    for user in (None, world.other, world.owner):
        a = call("GET", site, world.other_plain_key, user)
        b = call("GET", missing_site, world.other_plain_key, user)
        c = call("GET", missing_site, world.owner_plain_key)
        who = f"another user's key, session of {user}"
        assert a.status_code == 404, (who, a.content)
        assert_same_answer(a, b, site, missing_site, who)
        assert_same_answer(a, c, site, missing_site, f"{who} vs the owner's key")
        for secret in SECRETS:
            assert secret.encode() not in a.content
    # ... while that key works for its own user's site.
    assert call("GET", other_site, world.other_plain_key).status_code == 200
    assert snapshot() == before, "another user's key changed the database"

    # Every other method changes nothing and is refused alike, for anyone.
    keys = (
        None,
        "sa_not-a-key",
        world.revoked_plain_key,
        world.other_plain_key,
        world.owner_plain_key,
    )
    for method in ("POST", *OTHER_METHODS):
        for key in keys:
            a, b = call(method, site, key), call(method, missing_site, key)
            assert a.status_code == 405, (method, key, a.status_code)
            assert_same_answer(a, b, site, missing_site, f"{method} with key {key!r}")
        assert snapshot() == before, f"{method} changed the database"


SITES_API_ROUTES = [r for r in ROUTES if category(r) == "sites_api"]


@pytest.mark.parametrize("route", SITES_API_ROUTES, ids=lambda r: r.id)
def test_sites_api_route_needs_the_owners_key_and_writes_a_read_write_key(route, world):
    """401 without a valid key, 403 for a write with a read-only key, another user's
    objects the same 404 as missing ones; nobody but the owner changes anything."""
    real, missing = urls(route, world)
    owned = bool(route.kwargs)
    methods = []
    for method in ("GET", "POST", *OTHER_METHODS):
        with transaction.atomic():
            response = request(method, real, **bearer(world.owner_write_key))
            transaction.set_rollback(True)
        assert response.status_code < 500, f"owner {method} {real}: {response.status_code}"
        if response.status_code != 405:
            methods.append(method)
            assert response.status_code != 404, f"owner {method} {real} is a 404"
    assert methods, f"{real} answers no method"
    before = snapshot()
    for method in methods:
        refused = [
            Principal("no key", None, {}),
            Principal("a bad key", None, bearer("sa_not-a-key")),
            Principal("a revoked key", None, bearer(world.revoked_plain_key)),
            Principal("the owner's session", world.owner, {}),
            Principal(
                "the owner's session, a revoked key", world.owner, bearer(world.revoked_plain_key)
            ),
        ]
        for p in refused:
            a, b = pair(method, real, missing, p)
            assert a.status_code == 401, f"{p.who}, {method} {real}: {a.status_code}"
            assert_same_answer(a, b, real, missing, f"{p.who}, {method}")
        if method != "GET":
            p = Principal("the owner's read-only key", None, bearer(world.owner_plain_key))
            a, b = pair(method, real, missing, p)
            assert a.json() == {"error": "this key is read-only"}, (method, a.status_code)
            assert_same_answer(a, b, real, missing, f"{p.who}, {method}")
        keys = [world.other_write_key] + ([world.other_plain_key] if method == "GET" else [])
        for key in keys:
            for user in (None, world.other):
                p = Principal(f"another user's key {key[:6]}, session {user}", user, bearer(key))
                a, b = pair(method, real, missing, p)
                who = f"{p.who}, {method} {real}"
                assert a.status_code < 500, who
                if owned:
                    assert a.status_code == 404, f"{who}: {a.status_code}"
                    assert_same_answer(a, b, real, missing, who)
                for secret in SECRETS:
                    assert secret.encode() not in a.content, f"{who} shows {secret!r}"
        assert snapshot() == before, f"a non-owner's {method} {real} changed the database"


# Reads of the sites API that need the admin role: a share link's label and the members.
SITES_API_ADMIN_READS = {"api:site_share_links", "api:site_members"}


@pytest.mark.parametrize("route", SITES_API_ROUTES, ids=lambda r: r.id)
def test_sites_api_route_needs_the_admin_role_for_writes(route, world):
    """Read-write keys of the owner's teammates: the viewer's is refused every write (and
    the admin reads) with a 403 that changes nothing; the admin's works like the owner's."""
    real, _ = urls(route, world)
    before = snapshot()
    for method in ("GET", "POST", *OTHER_METHODS):
        cache.clear()
        with transaction.atomic():
            owner = request(method, real, **bearer(world.owner_write_key))
            transaction.set_rollback(True)
        if owner.status_code == 405:
            continue
        needs_admin = method != "GET" or route.name in SITES_API_ADMIN_READS
        who = f"viewer's key, {method} {real}"
        if needs_admin and route.kwargs:
            viewer = request(method, real, **bearer(world.viewer_write_key))
            assert viewer.status_code == 403, f"{who}: {viewer.status_code}"
            assert "admin role" in viewer.json()["error"], who
            assert snapshot() == before, f"{who} changed the database"
        else:  # a read, or a new website in the viewer's own personal team
            with transaction.atomic():
                viewer = request(method, real, **bearer(world.viewer_write_key))
                transaction.set_rollback(True)
            assert viewer.status_code < 500 and viewer.status_code != 403, who
        with transaction.atomic():
            admin = request(method, real, **bearer(world.admin_write_key))
            transaction.set_rollback(True)
        assert admin.status_code == owner.status_code, (method, real, admin.content)
    assert snapshot() == before


def test_static_files_are_public(client):
    response = client.get("/static/simple_analytics/app.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")


# --- hostile query strings -----------------------------------------------------------

# Each must be refused with a 400 and a message by the dashboard and the stats API.
BAD_QUERIES = [
    "period=bogus",
    "period=custom",
    "period=custom&from=2026-02-30&to=2026-03-01",
    "from=not-a-date&to=2026-01-01",
    "period=custom&from=2026-03-01&to=2026-02-01",
    "period=custom&from=2000-01-01&to=2026-01-01",
    "period=custom&from=1999-12-31&to=2000-01-02",
    "period=custom&from=9999-01-01&to=9999-01-02",
    "period=custom&from=2026-01-01T00:00&to=2026-01-02",
    "period=today&page=%00",
    "period=today&browser=" + "a" * 3000,
]
# The stats API's limit.
BAD_LIMITS = ["limit=0", "limit=-1", "limit=abc", "limit=1001", "limit=" + "9" * 30, "limit=1.5"]
NUMERIC = numeric_query_parameters()
_CUSTOM = {"period": "custom", "from": "2026-01-05", "to": "2026-01-05"}
# Non-ASCII and non-decimal digits in every numeric parameter: refused like any bad value
# (dates by the dashboard too; it reads no number).
BAD_QUERIES += [
    urlencode({**_CUSTOM, name: day})
    for name, kind in NUMERIC.items()
    if kind.startswith("date")
    for day in hostile_dates()
]
BAD_LIMITS += [
    urlencode({name: value})
    for name, kind in NUMERIC.items()
    if not kind.startswith("date")
    for value in HOSTILE_DIGITS
]
# Odd but harmless: answered somehow, never with a 500.
ODD_QUERIES = [
    "period=today&from=2026-01-01",
    "period=today&browser=a&browser=b",
    "period=today&page=%ff%fe",
    "period=today&page=&source=(none)",
    "period=realtime&limit=1000",
    "period=today&unknown=1",
    "period=%E2%80%AE",
]
GET_ROUTES = [r for r in SESSION_ROUTES if category(r) in ("owned", "login")]


def test_the_numeric_parameters_are_found():
    assert {"limit": "integer", "from": "date", "to": "date"}.items() <= NUMERIC.items()


@pytest.mark.parametrize("route", GET_ROUTES, ids=lambda r: r.id)
def test_hostile_query_strings_are_never_a_500(route, world):
    url, _ = urls(route, world)
    client = Client()
    client.force_login(world.owner)
    if client.get(url).status_code != 200:
        return  # a POST-only or redirecting page: its query string is not read
    for query in BAD_QUERIES + BAD_LIMITS + ODD_QUERIES:
        response = client.get(f"{url}?{query}")
        assert response.status_code < 500, f"{url}?{query}: {response.status_code}"


INT_ROUTES = [r for r in GET_ROUTES if r.int_kwargs]


@pytest.mark.parametrize("route", INT_ROUTES, ids=lambda r: r.id)
def test_hostile_numbers_in_a_path_are_a_404(route, world):
    """Ids in other digits are not ids; ids past any column's range are missing ones."""
    client = Client()
    client.force_login(world.owner)
    real = {name: fill.real(world) for name, fill in fills_for(route).items()}
    for name in route.int_kwargs:
        for value in [*HOSTILE_DIGITS, "9" * 30, "9" * 5000]:
            url = route.url({**real, name: value}, resolves=False)
            for method in (client.get, client.post):  # 405: the view takes the other one
                assert method(url).status_code in (404, 405), (method, url[:80])


@pytest.mark.parametrize("route", API_ROUTES, ids=lambda r: r.id)
def test_the_api_answers_hostile_query_strings_with_a_400_and_a_message(route, world):
    path, _ = urls(route, world)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.owner_plain_key}"}
    site = f"site={world.website.tracking_id}"
    for query in BAD_QUERIES + BAD_LIMITS:
        response = Client().get(f"{path}?{site}&{query}", **headers)
        assert response.status_code == 400, f"{path}?{query}: {response.status_code}"
        assert response.json()["error"], query
    for query in ODD_QUERIES:
        response = Client().get(f"{path}?{site}&{query}", **headers)
        assert response.status_code in (200, 400), f"{path}?{query}: {response.status_code}"


def test_the_dashboard_refuses_bad_query_strings_saying_what_is_wrong(world):
    """A 400 that names the problem in the same words as the stats API."""
    dashboard = Client()
    dashboard.force_login(world.owner)
    overview = f"/websites/{world.website.pk}/"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world.owner_plain_key}"}
    for query in BAD_QUERIES:
        api = Client().get(f"/api/v1/stats?site={world.website.tracking_id}&{query}", **headers)
        message = api.json()["error"]
        response = dashboard.get(f"{overview}?{query}")
        assert response.status_code == 400, f"{query}: {response.status_code}"
        assert escape(capfirst(message)).encode() in response.content, (query, message)


SHARE_ROUTES = [r for r in ROUTES if r.name and r.name.startswith("dashboard:share")]


@pytest.mark.parametrize("route", SHARE_ROUTES, ids=lambda r: r.id)
def test_share_links_open_their_own_website_only(route, world):
    """A live share link, besides the revoked one of the matrix: without its password, or
    with a wrong one, it shows nothing of the website; another website's link shows that
    website only, whatever the query string names; nobody's request changes the database."""
    fills = {"breakdown": "pages"}
    before = snapshot()
    cache.clear()
    locked = route.url({**fills, "token": world.share_token})
    query = "?period=30d"
    for principal in [*others(world), *anonymous(world)[:2]]:
        who = f"{principal.who}, {locked}"
        for method in ("GET", "POST"):
            response = request(method, locked + query, principal.user, **principal.headers)
            assert response.status_code in (200, 403), f"{who} {method}: {response.status_code}"
            for secret in SECRETS:
                assert secret.encode() not in body(response), f"{who} shows {secret!r}"
        client = Client()
        if principal.user is not None:
            client.force_login(principal.user)
        wrong = client.post(locked + query, {"password": "not-the-password"})
        assert wrong.status_code == 403, f"{who}: a wrong password gives {wrong.status_code}"
        for secret in SECRETS:
            assert secret.encode() not in wrong.content, f"{who}: wrong password shows {secret!r}"
    # The right password, given on the dashboard, opens it (so the refusals above are about
    # the password); the filter form without a filter is a 400 that says so.
    client = Client()
    right = client.post(f"/share/{world.share_token}/", {"password": world.share_password})
    assert right.status_code == 303, right.status_code
    opened = client.get(locked + query)
    assert opened.status_code in (200, 302, 400), opened.status_code
    if route.name == "dashboard:share":
        assert OWNER_SITE_NAME.encode() in opened.content

    # The other user's link, asked to show the owner's website in every way a query could.
    foreign = route.url({**fills, "token": world.other_share_token})
    tricks = urlencode(
        {"site": world.website.tracking_id, "pk": world.website.pk, "website": world.website.pk}
    )
    for principal in [
        *others(world)[:1],
        *anonymous(world)[:1],
        Principal("owner", world.owner, {}),
    ]:
        cache.clear()
        response = request("GET", f"{foreign}?period=30d&{tricks}", principal.user)
        assert response.status_code in (200, 302, 400), f"{principal.who}: {response.status_code}"
        for secret in SECRETS:
            assert secret.encode() not in body(response), f"{principal.who}: shows {secret!r}"
    assert snapshot() == before, f"a request to {route.id} changed the database"
