from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from api.models import ApiKey, Scope
from api.sites import MAX_BODY_BYTES
from goals.models import Funnel, Goal, GoalKind
from goals.services import funnel_create, goal_create
from simple_analytics.testing import make_user, make_website
from websites.models import ShareLink, Website
from websites.sharing import share_link_create

pytestmark = pytest.mark.django_db


class Api:
    """A client that sends one key and JSON bodies."""

    def __init__(self, key: str) -> None:
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        return self.client.generic(
            method, path, data, content_type="application/json", **self.headers
        )

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        return self.call("POST", path, body, raw)

    def patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


@pytest.fixture
def owner():
    return make_user()


@pytest.fixture
def website(owner):
    return make_website(owner=owner, domain="shop.example")


@pytest.fixture
def api(owner):
    return Api(ApiKey.issue(user=owner, name="rw", scope=Scope.READ_WRITE)[1])


@pytest.fixture
def read_api(owner):
    return Api(ApiKey.issue(user=owner, name="ro")[1])


def sites_path(website: Website, *rest: str) -> str:
    return "/".join(["/api/v1/sites", website.tracking_id, *rest])


# --- scopes -----------------------------------------------------------------------------


def test_keys_are_read_only_unless_made_read_write(owner):
    row, _ = ApiKey.issue(user=owner, name="plain")
    assert row.scope == Scope.READ and not row.can_write
    row, _ = ApiKey.issue(user=owner, name="rw", scope=Scope.READ_WRITE)
    assert row.can_write


def test_the_key_page_creates_a_key_of_the_chosen_scope_and_lists_it(client, owner):
    client.force_login(owner)
    client.post("/account/api-keys/create/", {"name": "deploy", "scope": "read_write"})
    client.post("/account/api-keys/create/", {"name": "report"})
    scopes = dict(ApiKey.objects.values_list("name", "scope"))
    assert scopes == {"deploy": "read_write", "report": "read"}
    page = client.get("/account/api-keys/").content.decode()
    assert "Read and write" in page and "Read only" in page
    assert '<select id="key-scope" name="scope">' in page


def test_the_key_page_refuses_an_unknown_scope(client, owner):
    client.force_login(owner)
    response = client.post("/account/api-keys/create/", {"name": "x", "scope": "admin"})
    assert response.status_code == 302
    assert not ApiKey.objects.exists()


def test_a_read_only_key_reads_but_every_write_is_a_403(read_api, website):
    assert read_api.get("/api/v1/sites").status_code == 200
    assert read_api.get(sites_path(website, "goals")).status_code == 200
    goal = goal_create(website=website, kind=GoalKind.EVENT, event_name="Signup")
    link = share_link_create(website=website, label="client").link
    for method, path, body in [
        ("POST", "/api/v1/sites", {"domain": "new.example"}),
        ("PATCH", sites_path(website), {"name": "x"}),
        ("DELETE", sites_path(website), None),
        ("POST", sites_path(website, "goals"), {"kind": "event", "event_name": "A"}),
        ("DELETE", sites_path(website, "goals", str(goal.pk)), None),
        ("POST", sites_path(website, "funnels"), {"name": "F", "steps": ["Signup", "x"]}),
        ("DELETE", sites_path(website, "funnels", "1"), None),
        ("POST", sites_path(website, "share-links"), {"label": "x"}),
        ("DELETE", sites_path(website, "share-links", str(link.pk)), None),
    ]:
        response = read_api.call(method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json() == {"error": "this key is read-only"}
    assert Website.objects.count() == 1 and website.name == Website.objects.get().name
    assert Goal.objects.count() == 1
    assert ShareLink.objects.get().revoked_at is None


def test_no_key_or_a_revoked_key_is_a_401(owner, website):
    assert Client().get("/api/v1/sites").status_code == 401
    row, plain = ApiKey.issue(user=owner, name="gone", scope=Scope.READ_WRITE)
    ApiKey.objects.filter(pk=row.pk).update(revoked_at="2026-01-01T00:00Z")
    response = Api(plain).post("/api/v1/sites", {"domain": "new.example"})
    assert response.status_code == 401
    assert not Website.objects.filter(domain="new.example").exists()


def test_wrong_methods_are_a_405_naming_the_allowed_ones(api, website):
    response = api.call("PUT", sites_path(website), {"name": "x"})
    assert response.status_code == 405
    assert response["Allow"] == "GET, PATCH, DELETE"
    assert "error" in response.json()
    assert api.get(sites_path(website, "goals", "1")).status_code == 405


# --- websites ---------------------------------------------------------------------------


def test_create_list_get_update_and_delete_a_website(api, owner):
    response = api.post(
        "/api/v1/sites",
        {
            "domain": "https://www.Blog.example/path",
            "timezone": "Europe/Berlin",
            "allowed_hostnames": ["staging.blog.example", "*.preview.example"],
            "excluded_ips": ["203.0.113.7/24"],
            "excluded_paths": ["/admin/**"],
        },
    )
    assert response.status_code == 201, response.content
    site = response.json()
    website = Website.objects.get(tracking_id=site["site"])
    assert website.owner == owner
    assert site["id"] == website.pk
    assert (site["domain"], site["name"], site["timezone"]) == (
        "blog.example",
        "blog.example",
        "Europe/Berlin",
    )
    assert site["allowed_hostnames"] == ["staging.blog.example", "*.preview.example"]
    assert site["excluded_ips"] == ["203.0.113.0/24"]
    assert site["excluded_paths"] == ["/admin/**"]
    assert f'data-site="{website.tracking_id}"' in site["snippet"]

    assert api.get("/api/v1/sites").json() == {"sites": [site]}
    assert api.get(sites_path(website)).json() == site

    changed = api.patch(sites_path(website), {"name": "My blog", "excluded_paths": []})
    assert changed.status_code == 200
    website.refresh_from_db()
    assert (website.name, website.excluded_paths, website.timezone) == (
        "My blog",
        "",
        "Europe/Berlin",
    )
    assert changed.json()["name"] == "My blog"

    deleted = api.delete(sites_path(website))
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.get("/api/v1/sites").json() == {"sites": []}
    assert api.get(sites_path(website)).status_code == 404
    assert not Website.objects.exists()


def test_another_users_website_is_the_same_404_as_a_missing_one(api):
    theirs = make_website(owner=make_user(), domain="theirs.example")
    goal = goal_create(website=theirs, kind=GoalKind.EVENT, event_name="Signup")
    page = goal_create(website=theirs, kind=GoalKind.PAGE, page_pattern="/")
    funnel = funnel_create(website=theirs, name="F", steps=[page.name, goal.name])
    link = share_link_create(website=theirs, label="theirs").link
    assert api.get("/api/v1/sites").json() == {"sites": []}
    for method, rest, body in [
        ("GET", (), None),
        ("PATCH", (), {"name": "mine now"}),
        ("DELETE", (), None),
        ("GET", ("goals",), None),
        ("POST", ("goals",), {"kind": "event", "event_name": "A"}),
        ("DELETE", ("goals", str(goal.pk)), None),
        ("GET", ("funnels",), None),
        ("POST", ("funnels",), {"name": "F", "steps": ["Signup", "Signup"]}),
        ("DELETE", ("funnels", str(funnel.pk)), None),
        ("GET", ("share-links",), None),
        ("POST", ("share-links",), {"label": "mine"}),
        ("DELETE", ("share-links", str(link.pk)), None),
    ]:
        real = api.call(method, sites_path(theirs, *rest), body)
        missing = api.call(method, "/".join(["/api/v1/sites/n0SuchSite00", *rest]), body)
        assert real.status_code == missing.status_code == 404, (method, rest)
        assert real.content == missing.content == b'{"error": "no such site"}'
    theirs.refresh_from_db()
    assert theirs.name == "theirs.example"
    assert Goal.objects.count() == 2 and ShareLink.objects.get().revoked_at is None
    assert Funnel.objects.get() == funnel


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "domain"),
        ({"domain": "not a domain"}, "domain"),
        ({"domain": 42}, "domain"),
        ({"domain": "a.example", "timezone": "Mars/Olympus"}, "timezone"),
        ({"domain": "a.example", "name": "x" * 201}, "name"),
        ({"domain": "a.example", "name": "a\x00b"}, "name"),
        ({"domain": "a.example", "name": "\ud800"}, "name"),
        ({"domain": "a.example", "allowed_hostnames": "a.example"}, "allowed_hostnames"),
        ({"domain": "a.example", "allowed_hostnames": ["not a host!"]}, "allowed_hostnames"),
        ({"domain": "a.example", "excluded_ips": ["300.1.1.1"]}, "excluded_ips"),
        ({"domain": "a.example", "excluded_paths": ["admin"]}, "excluded_paths"),
        ({"domain": "a.example", "excluded_paths": [1]}, "excluded_paths"),
        ({"domain": "a.example", "owner": 1}, "owner"),
    ],
)
def test_a_bad_website_field_is_a_400_naming_it(api, body, field):
    response = api.post("/api/v1/sites", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(f"{field}: ")
    assert not Website.objects.exists()


def test_a_duplicate_domain_is_refused_and_a_bad_update_changes_nothing(api, website):
    response = api.post("/api/v1/sites", {"domain": "www.shop.example"})
    assert response.status_code == 400
    assert response.json()["error"] == "domain: This team already has a website for shop.example."
    bad = api.patch(sites_path(website), {"name": "New", "excluded_ips": ["nope"]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("excluded_ips: ")
    website.refresh_from_db()
    assert website.name == "shop.example"


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"[" * 30_000 + b"]" * 30_000]
)
def test_a_body_that_is_not_a_json_object_is_a_400(api, raw):
    response = api.post("/api/v1/sites", raw=raw)
    assert response.status_code == 400
    assert response.json() == {"error": "the request body must be a JSON object"}


def test_a_body_over_the_cap_is_a_413(api):
    body = {"domain": "a.example", "name": "x" * MAX_BODY_BYTES}
    response = api.post("/api/v1/sites", body)
    assert response.status_code == 413
    assert not Website.objects.exists()


@pytest.mark.parametrize("site", ["%00", "a%2Eb", "x" * 40, "%F0%9F%98%80"])
def test_a_malformed_tracking_id_is_a_404_in_json(api, site):
    response = api.get(f"/api/v1/sites/{site}")
    assert response.status_code == 404
    assert response.json() == {"error": "no such site"}


# --- goals ------------------------------------------------------------------------------


def test_goals_created_by_the_api_show_on_the_goals_page(api, owner, website, client):
    event = api.post(
        sites_path(website, "goals"),
        {"kind": "event", "event_name": "Signup", "prop_key": "plan", "prop_value": "pro"},
    )
    assert event.status_code == 201, event.content
    page = api.post(sites_path(website, "goals"), {"kind": "page", "page_pattern": "/blog/*"})
    assert page.status_code == 201
    assert event.json()["name"] == "Signup plan=pro"
    assert page.json()["name"] == "Visit /blog/*"
    listed = api.get(sites_path(website, "goals")).json()
    assert listed["site"] == website.tracking_id
    assert [g["name"] for g in listed["goals"]] == ["Signup plan=pro", "Visit /blog/*"]
    assert listed["goals"][1] == {**page.json(), "event_name": "", "prop_key": ""} | {
        "prop_value": ""
    }
    client.force_login(owner)
    html = client.get(f"/websites/{website.pk}/goals/").content.decode()
    assert "Signup plan=pro" in html and "Visit /blog/*" in html


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "kind"),
        ({"kind": "funnel"}, "kind"),
        ({"kind": "event"}, "event_name"),
        ({"kind": "event", "event_name": "x" * 121}, "event_name"),
        ({"kind": "event", "event_name": "A", "prop_value": "v"}, "prop_key"),
        ({"kind": "event", "event_name": "A", "page_pattern": "/x"}, "page_pattern"),
        ({"kind": "page", "page_pattern": "blog"}, "page_pattern"),
        ({"kind": "page", "page_pattern": "/a", "event_name": "A"}, "event_name"),
        ({"kind": "page", "page_pattern": "/a", "name": "n" * 201}, "name"),
        ({"kind": "page", "page_pattern": ["/a"]}, "page_pattern"),
        ({"kind": "page", "page_pattern": "/a", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_goal_field_is_a_400_naming_it(api, website, body, field):
    response = api.post(sites_path(website, "goals"), body)
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(f"{field}: "), response.json()
    assert not Goal.objects.exists()


def test_a_goal_is_deleted_unless_a_funnel_uses_it(api, website):
    goal = goal_create(website=website, kind=GoalKind.EVENT, event_name="Signup")
    other = goal_create(website=website, kind=GoalKind.PAGE, page_pattern="/pricing")
    funnel_create(website=website, name="F", steps=[other.name, goal.name])
    lone = goal_create(website=website, kind=GoalKind.PAGE, page_pattern="/lone")
    refused = api.delete(sites_path(website, "goals", str(goal.pk)))
    assert refused.status_code == 409
    assert "funnel" in refused.json()["error"]
    assert api.delete(sites_path(website, "goals", str(lone.pk))).status_code == 204
    assert set(Goal.objects.values_list("pk", flat=True)) == {goal.pk, other.pk}
    for bad in (str(lone.pk), "0", "-1", "abc", "٣", "9" * 30):
        response = api.delete(sites_path(website, "goals", bad))
        assert response.status_code == 404, bad
        assert response.json() == {"error": "no such goal"}


def test_a_goal_of_another_of_my_websites_is_a_404(api, owner, website):
    mine = make_website(owner=owner, domain="other.example")
    goal = goal_create(website=mine, kind=GoalKind.EVENT, event_name="Signup")
    assert api.delete(sites_path(website, "goals", str(goal.pk))).status_code == 404
    assert Goal.objects.filter(pk=goal.pk).exists()


# --- funnels ---------------------------------------------------------------------------


def test_create_list_and_delete_a_funnel_of_goals(api, owner, website, client):
    for body in (
        {"kind": "page", "page_pattern": "/pricing"},
        {"kind": "event", "event_name": "Signup"},
    ):
        assert api.post(sites_path(website, "goals"), body).status_code == 201
    response = api.post(
        sites_path(website, "funnels"),
        {"name": "Pricing to signup", "steps": ["Visit /pricing", "Signup"]},
    )
    assert response.status_code == 201, response.content
    funnel = response.json()
    assert funnel["name"] == "Pricing to signup"
    assert funnel["steps"] == ["Visit /pricing", "Signup"]
    assert api.get(sites_path(website, "funnels")).json() == {
        "site": website.tracking_id,
        "funnels": [funnel],
    }
    client.force_login(owner)
    assert "Pricing to signup" in client.get(f"/websites/{website.pk}/goals/").content.decode()
    assert api.delete(sites_path(website, "funnels", str(funnel["id"]))).status_code == 204
    assert not Funnel.objects.exists() and Goal.objects.count() == 2
    again = api.delete(sites_path(website, "funnels", str(funnel["id"])))
    assert again.status_code == 404 and again.json() == {"error": "no such funnel"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"steps": ["A", "B"]}, "name"),
        ({"name": "F", "steps": ["A"]}, "steps"),
        ({"name": "F", "steps": ["A", "Nope"]}, "steps"),
        ({"name": "F", "steps": ["A", "A"]}, "steps"),
        ({"name": "F", "steps": "A,B"}, "steps"),
    ],
)
def test_a_bad_funnel_field_is_a_400_naming_it(api, website, body, field):
    goal_create(website=website, kind=GoalKind.EVENT, event_name="A")
    goal_create(website=website, kind=GoalKind.EVENT, event_name="B")
    response = api.post(sites_path(website, "funnels"), body)
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(f"{field}: "), response.json()
    assert not Funnel.objects.exists()


# --- share links ------------------------------------------------------------------------


def test_a_share_link_created_by_the_api_opens_and_is_listed_and_revoked(api, website):
    response = api.post(
        sites_path(website, "share-links"),
        {"label": "Client", "password": "s3cret-pass", "embed_hosts": ["Blog.example"]},
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["url"].startswith("http://testserver/share/")
    assert created["password_protected"] is True
    assert created["embed_hosts"] == ["blog.example"]
    path = created["url"].removeprefix("http://testserver")

    visitor = Client()
    locked = visitor.get(path)  # the password page first
    assert website.name.encode() not in locked.content
    assert visitor.post(path, {"password": "wrong-password"}).status_code == 403
    assert visitor.post(path, {"password": "s3cret-pass"}).status_code == 303
    opened = visitor.get(path)
    assert opened.status_code == 200
    assert website.name.encode() in opened.content

    listed = api.get(sites_path(website, "share-links")).json()
    link = {k: v for k, v in created.items() if k != "url"}
    assert listed == {"site": website.tracking_id, "share_links": [link]}
    assert "url" not in json.dumps(listed)

    assert api.delete(sites_path(website, "share-links", str(created["id"]))).status_code == 204
    assert Client().get(path).status_code == 404
    assert api.get(sites_path(website, "share-links")).json()["share_links"] == []
    again = api.delete(sites_path(website, "share-links", str(created["id"])))
    assert again.status_code == 404 and again.json() == {"error": "no such share link"}


def test_a_share_link_without_a_password_opens_at_once(api, website):
    created = api.post(sites_path(website, "share-links"), {"label": "Public"}).json()
    assert created["password_protected"] is False and created["embed_hosts"] == []
    assert Client().get(created["url"].removeprefix("http://testserver")).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "label"),
        ({"label": "   "}, "label"),
        ({"label": "x" * 101}, "label"),
        ({"label": "x", "password": "short"}, "password"),
        ({"label": "x", "embed_hosts": ["not a host;"]}, "embed_hosts"),
        ({"label": "x", "embed_hosts": "a.example"}, "embed_hosts"),
        ({"label": "x", "url": "https://x"}, "url"),
    ],
)
def test_a_bad_share_link_field_is_a_400_naming_it(api, website, body, field):
    response = api.post(sites_path(website, "share-links"), body)
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(f"{field}: "), response.json()
    assert not ShareLink.objects.exists()


# --- the document -----------------------------------------------------------------------


def test_the_openapi_document_describes_the_sites_api_and_the_scopes(client):
    doc = client.get("/api/v1/openapi.json").json()
    paths = doc["paths"]
    assert set(paths["/api/v1/sites"]) == {"get", "post"}
    assert set(paths["/api/v1/sites/{site}"]) == {"get", "patch", "delete"}
    assert set(paths["/api/v1/sites/{site}/goals/{goal_id}"]) == {"delete"}
    assert set(paths["/api/v1/sites/{site}/share-links"]) == {"get", "post"}
    bearer = doc["components"]["securitySchemes"]["bearer"]["description"]
    assert "`read`" in bearer and "`read_write`" in bearer
    assert "403" in paths["/api/v1/sites/{site}"]["patch"]["responses"]
