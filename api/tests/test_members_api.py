"""The sites API's members endpoints and the roles behind every sites API request."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from api.models import ApiKey, Scope
from api.tests.test_sites_api import Api
from simple_analytics.testing import make_user
from teams.models import Invitation, Membership, Role
from teams.services import hash_token, team_create
from websites.services import website_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    owner = make_user("owner@example.com")
    team = team_create(user=owner, name="Agency")
    website = website_create(owner=owner, team=team, domain="agency.example")
    keys = {"owner": ApiKey.issue(user=owner, name="rw", scope=Scope.READ_WRITE)[1]}
    for role in (Role.ADMIN, Role.VIEWER):
        user = make_user(f"{role}@example.com")
        Membership.objects.create(team=team, user=user, role=role)
        keys[role] = ApiKey.issue(user=user, name="rw", scope=Scope.READ_WRITE)[1]
    return team, website, keys


def test_an_admin_lists_members_invites_and_revokes(setup):
    team, website, keys = setup
    api = Api(keys[Role.ADMIN])
    path = f"/api/v1/sites/{website.tracking_id}/members"
    listing = api.get(path)
    assert listing.status_code == 200
    body = listing.json()
    assert body["team"] == {"id": team.pk, "name": "Agency"}
    assert [(m["email"], m["role"]) for m in body["members"]] == [
        ("owner@example.com", "owner"),
        ("admin@example.com", "admin"),
        ("viewer@example.com", "viewer"),
    ]
    assert body["invitations"] == []

    created = api.post(path, {"email": "New@Example.com", "role": "viewer"})
    assert created.status_code == 201, created.content
    invitation = created.json()
    assert invitation["email"] == "new@example.com" and invitation["role"] == "viewer"
    assert "token" not in invitation and "url" not in invitation
    [message] = mail.outbox
    token = re.search(r"/invitations/([A-Za-z0-9_-]+)/", message.body)
    assert token is not None
    assert Invitation.objects.get(pk=invitation["id"]).token_hash == hash_token(token.group(1))
    assert [i["id"] for i in api.get(path).json()["invitations"]] == [invitation["id"]]

    revoke = f"/api/v1/sites/{website.tracking_id}/invitations/{invitation['id']}"
    assert api.delete(revoke).status_code == 204
    assert api.get(path).json()["invitations"] == []
    assert api.delete(revoke).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address", "role": "viewer"}, "email"),
        ({"email": "x@example.com", "role": "owner"}, "role"),
        ({"email": "viewer@example.com", "role": "admin"}, "email"),
        ({"role": "admin"}, "email"),
        ({"email": "x@example.com", "role": 3}, "role"),
    ],
)
def test_a_bad_invitation_is_a_400_naming_the_field(setup, body, field):
    _, website, keys = setup
    response = Api(keys["owner"]).post(f"/api/v1/sites/{website.tracking_id}/members", body)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"{field}: ")
    assert not mail.outbox


def test_a_viewer_reads_but_writes_nothing(setup):
    _, website, keys = setup
    api = Api(keys[Role.VIEWER])
    site = f"/api/v1/sites/{website.tracking_id}"
    assert api.get(site).json()["role"] == "viewer"
    assert api.get(f"{site}/goals").status_code == 200
    for method, path, body in [
        ("PATCH", site, {"name": "x"}),
        ("DELETE", site, None),
        ("POST", f"{site}/goals", {"kind": "event", "event_name": "x"}),
        ("GET", f"{site}/share-links", None),
        ("GET", f"{site}/members", None),
        ("POST", f"{site}/members", {"email": "x@example.com", "role": "viewer"}),
    ]:
        response = api.call(method, path, body)
        assert response.status_code == 403, (method, path)
        assert response.json() == {"error": "this needs the admin role in the website's team"}
    website.refresh_from_db()
    assert website.name == "agency.example"
    assert not mail.outbox


def test_a_website_is_created_in_the_team_asked_for(setup):
    team, _, keys = setup
    created = Api(keys[Role.ADMIN]).post(
        "/api/v1/sites", {"domain": "new.example", "team": team.pk}
    )
    assert created.status_code == 201, created.content
    assert created.json()["team"] == {"id": team.pk, "name": "Agency"}
    viewer = Api(keys[Role.VIEWER])
    refused = viewer.post("/api/v1/sites", {"domain": "other.example", "team": team.pk})
    assert refused.status_code == 403
    unknown = viewer.post("/api/v1/sites", {"domain": "other.example", "team": 10**6})
    assert unknown.status_code == 400 and unknown.json()["error"] == "team: no such team"
    own = viewer.post("/api/v1/sites", {"domain": "other.example"})
    assert own.status_code == 201 and own.json()["role"] == "owner"


def test_the_stats_api_reads_the_websites_of_the_users_teams(setup):
    _, website, keys = setup
    viewer = Api(keys[Role.VIEWER])
    assert viewer.get(f"/api/v1/stats?site={website.tracking_id}&period=today").status_code == 200
    outsider = Api(ApiKey.issue(user=make_user(), name="r")[1])
    assert outsider.get(f"/api/v1/stats?site={website.tracking_id}&period=today").status_code == 404
