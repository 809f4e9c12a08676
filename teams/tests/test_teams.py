"""Teams and roles: personal teams, role changes, ownership, leaving, deleting, moving a
website between teams, and what each role may open."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from simple_analytics.testing import make_user, make_website
from teams.models import Membership, Role, Team
from teams.services import (
    TeamError,
    member_leave,
    member_set_role,
    ownership_transfer,
    team_create,
    team_delete,
)
from teams.tests.conftest import add_member, client_for, verified_user
from websites.models import Website
from websites.selectors import website_get_for_user_or_404, website_list_for_user
from websites.services import website_create

pytestmark = pytest.mark.django_db


def me(team: Team, user) -> Membership:
    return Membership.objects.get(team=team, user=user)


def test_every_user_gets_a_personal_team_they_own():
    user = make_user()
    team = Team.objects.get(personal_for=user)
    assert team.is_personal
    assert me(team, user).role == Role.OWNER
    website = make_website(owner=user)
    assert website.team == team and website.owner == user


def test_site_add_puts_the_website_in_the_users_personal_team(capsys):
    from django.core.management import call_command

    user = make_user("cli@example.com")
    call_command("site_add", "cli.example", "--owner", "cli@example.com")
    assert Website.objects.get(domain="cli.example").team == Team.objects.get(personal_for=user)


def test_outsiders_get_404_and_members_below_the_role_403(owner, team, viewer, admin):
    website = website_create(owner=owner, team=team, domain="agency.example")
    outsider = make_user()
    with pytest.raises(Http404):
        website_get_for_user_or_404(outsider, website.pk)
    with pytest.raises(Http404):
        website_get_for_user_or_404(outsider, website.pk + 1000)
    assert website_get_for_user_or_404(viewer.user, website.pk).role == Role.VIEWER
    with pytest.raises(PermissionDenied):
        website_get_for_user_or_404(viewer.user, website.pk, need=Role.ADMIN)
    assert website_get_for_user_or_404(admin.user, website.pk, need=Role.ADMIN).can_admin
    with pytest.raises(PermissionDenied):
        website_get_for_user_or_404(admin.user, website.pk, need=Role.OWNER)
    assert website_list_for_user(viewer.user, team) == [website]
    assert website_list_for_user(outsider) == []


def test_a_viewer_sees_dashboards_but_no_settings(owner, team, viewer):
    website = website_create(owner=owner, team=team, domain="agency.example")
    client = client_for(viewer.user)
    client.post(reverse("teams:switch", args=[team.pk]))
    listing = client.get(reverse("dashboard:websites")).content.decode()
    assert "agency.example" in listing
    for url in (
        reverse("websites:edit", args=[website.pk]),
        reverse("dashboard:snippet", args=[website.pk]),
        reverse("websites:add"),
    ):
        assert f'href="{url}"' not in listing
    overview = client.get(reverse("dashboard:overview", args=[website.pk]))
    assert overview.status_code == 200
    assert reverse("websites:edit", args=[website.pk]) not in overview.content.decode()
    assert client.get(reverse("dashboard:export", args=[website.pk])).status_code == 200
    refused = client.get(reverse("websites:edit", args=[website.pk]))
    assert refused.status_code == 403
    assert "This needs the admin role in the team." in refused.content.decode()
    assert client.get(reverse("websites:add")).status_code == 403
    deleted = client.post(
        reverse("websites:delete", args=[website.pk]), {"confirm": website.domain}
    )
    assert deleted.status_code == 403
    assert Website.objects.filter(pk=website.pk).exists()


def test_an_admin_manages_websites_but_not_the_team(owner, team, admin):
    website = website_create(owner=owner, team=team, domain="agency.example")
    client = client_for(admin.user)
    saved = client.post(
        reverse("websites:edit", args=[website.pk]),
        {"domain": "agency.example", "name": "Renamed", "timezone": "UTC"},
    )
    assert saved.status_code == 302
    website.refresh_from_db()
    assert website.name == "Renamed"
    assert (
        client.post(reverse("teams:delete", args=[team.pk]), {"confirm": "Agency"}).status_code
        == 403
    )
    transfer = reverse("teams:transfer", args=[team.pk, admin.pk])
    assert client.post(transfer).status_code == 403
    assert Team.objects.filter(pk=team.pk).exists()


def test_role_changes_follow_the_rules(owner, team, admin, viewer):
    owner_m = me(team, owner)
    member_set_role(actor=admin, member=viewer, role=Role.ADMIN)
    assert viewer.role == Role.ADMIN
    with pytest.raises(TeamError, match="Only an owner"):
        member_set_role(actor=admin, member=viewer, role=Role.OWNER)
    with pytest.raises(TeamError, match="Only an owner"):
        member_set_role(actor=admin, member=owner_m, role=Role.VIEWER)
    with pytest.raises(TeamError, match="needs an owner"):
        member_set_role(actor=owner_m, member=owner_m, role=Role.ADMIN)
    member_set_role(actor=owner_m, member=viewer, role=Role.OWNER)
    assert Membership.objects.filter(team=team, role=Role.OWNER).count() == 2
    # Now there is another owner, the first may step down.
    member_set_role(actor=owner_m, member=owner_m, role=Role.VIEWER)
    assert me(team, owner).role == Role.VIEWER


def test_role_changes_through_the_members_page(owner, team, admin, viewer):
    url = reverse("teams:member_role", args=[team.pk, viewer.pk])
    assert client_for(viewer.user).post(url, {"role": Role.ADMIN}).status_code == 403
    client = client_for(admin.user)
    client.post(url, {"role": Role.OWNER})
    viewer.refresh_from_db()
    assert viewer.role == Role.VIEWER  # refused, with a message
    client.post(url, {"role": Role.ADMIN})
    viewer.refresh_from_db()
    assert viewer.role == Role.ADMIN
    bad = client.post(url, {"role": "emperor"})
    assert bad.status_code == 302
    page = client_for(owner).get(reverse("teams:members", args=[team.pk])).content.decode()
    for member in ("owner@example.com", "admin@example.com", "viewer@example.com"):
        assert f'data-member="{member}"' in page


def test_transferring_ownership(owner, team, admin):
    ownership_transfer(actor=me(team, owner), member=admin)
    assert me(team, admin.user).role == Role.OWNER
    assert me(team, owner).role == Role.ADMIN
    with pytest.raises(TeamError):
        ownership_transfer(actor=me(team, owner), member=admin)


def test_the_last_owner_cannot_leave_but_others_can(owner, team, viewer):
    with pytest.raises(TeamError, match="needs an owner"):
        member_leave(member=me(team, owner))
    client = client_for(viewer.user)
    assert client.post(reverse("teams:leave", args=[team.pk])).status_code == 302
    assert not Membership.objects.filter(pk=viewer.pk).exists()
    with pytest.raises(TeamError, match="personal team"):
        member_leave(member=me(Team.objects.get(personal_for=owner), owner))


def test_deleting_a_team_deletes_its_websites_after_confirmation(owner, team):
    website = website_create(owner=owner, team=team, domain="agency.example")
    client = client_for(owner)
    url = reverse("teams:delete", args=[team.pk])
    page = client.get(url)
    assert b"agency.example" in page.content
    assert client.post(url, {"confirm": "wrong"}).status_code == 200
    assert Team.objects.filter(pk=team.pk).exists()
    assert client.post(url, {"confirm": "Agency"}).status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    assert not Website.objects.filter(pk=website.pk).exists()
    personal = Team.objects.get(personal_for=owner)
    with pytest.raises(TeamError):
        team_delete(team=personal)
    response = client.post(reverse("teams:delete", args=[personal.pk]), {"confirm": personal.name})
    assert response.status_code == 200 and b"cannot be deleted" in response.content


def test_creating_a_team_and_switching_to_it(owner):
    client = client_for(owner)
    response = client.post(reverse("teams:list"), {"name": "  New   team "})
    team = Team.objects.get(name="New team")
    assert response["Location"] == reverse("teams:members", args=[team.pk])
    assert me(team, owner).role == Role.OWNER
    added = client.post(reverse("websites:add"), {"domain": "new.example", "timezone": "UTC"})
    assert added.status_code == 302
    assert Website.objects.get(domain="new.example").team == team
    client.post(reverse("teams:switch", args=[Team.objects.get(personal_for=owner).pk]))
    rows = client.get(reverse("dashboard:websites")).context["rows"]
    assert [row.website.domain for row in rows] == []
    assert client.post(reverse("teams:list"), {"name": ""}).status_code == 200
    listed = client.get(reverse("teams:list")).context["memberships"]
    assert [(t.pk, role) for t, role in listed] == [
        (Team.objects.get(personal_for=owner).pk, "Owner"),
        (team.pk, "Owner"),
    ]


def test_moving_a_website_needs_admin_in_both_teams(owner, team, viewer):
    website = make_website(owner=owner, domain="mine.example")
    client = client_for(owner)
    url = reverse("websites:transfer", args=[website.pk])
    assert client.post(url, {"team": team.pk}).status_code == 302
    website.refresh_from_db()
    assert website.team == team
    # The viewer of the team can see it but not move it anywhere.
    assert client_for(viewer.user).post(url, {"team": team.pk}).status_code == 403
    # A team where the user is only a viewer is not offered, and refused if posted.
    other = team_create(user=make_user(), name="Other")
    Membership.objects.create(team=other, user=owner, role=Role.VIEWER)
    page = client.get(url)
    assert f'<option value="{other.pk}"'.encode() not in page.content
    assert client.post(url, {"team": other.pk}).status_code == 200
    website.refresh_from_db()
    assert website.team == team


def test_leaving_a_team_stops_its_email_reports(owner, team, viewer):
    import datetime as dt

    from reports.models import ReportDelivery, ReportSubscription
    from reports.services import reports_send_due

    website = website_create(owner=owner, team=team, domain="agency.example")
    for user in (owner, viewer.user):
        ReportSubscription.objects.create(user=user, website=website, frequency="weekly")
    ReportSubscription.objects.update(created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    member_leave(member=viewer)
    outcomes = reports_send_due(now=dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC))
    # Only the owner's report was considered (and skipped: the website has no data).
    assert sum(outcomes.values()) == 1
    delivered = ReportDelivery.objects.values_list("subscription__user__email", flat=True)
    assert list(delivered) == ["owner@example.com"]


def test_share_links_stop_when_the_team_has_no_active_owner(owner, team):
    from websites.sharing import share_link_create, share_link_get_by_token

    website = website_create(owner=owner, team=team, domain="agency.example")
    token = share_link_create(website=website, label="client").token
    assert share_link_get_by_token(token) is not None
    owner.is_active = False
    owner.save(update_fields=["is_active"])
    assert share_link_get_by_token(token) is None
    add_member(team, "second-owner@example.com", Role.OWNER)
    assert share_link_get_by_token(token) is not None


def test_a_second_invitation_accept_race_uses_the_link_once(owner, team):
    from teams.services import invitation_accept, invitation_create

    issued = invitation_create(actor=me(team, owner), email="new@example.com", role=Role.ADMIN)
    user = verified_user("new@example.com")
    invitation_accept(invitation=issued.invitation, user=user)
    with pytest.raises(TeamError):
        invitation_accept(invitation=issued.invitation, user=user)


@pytest.mark.parametrize("chosen", [True, False], ids=["chosen team", "personal team"])
def test_a_page_reads_the_membership_it_shows_once(owner, team, viewer, chosen):
    """The websites list needs the team the session looks at and the user's role in it; the
    header's switcher shows the same team. One lookup of that membership serves all three."""
    user = viewer.user if chosen else owner
    client = client_for(user)
    if chosen:
        client.post(reverse("teams:switch", args=[team.pk]))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("dashboard:websites"))
    assert response.status_code == 200
    shown = team if chosen else Team.objects.get(personal_for=owner)
    assert response.context["team"] == shown
    assert response.context["can_add"] is (not chosen)  # a viewer may not add websites
    assert response.context["current_team"] == shown  # the header's switcher
    assert len(membership_reads(ctx)) == 1, membership_reads(ctx)


def membership_reads(ctx: CaptureQueriesContext) -> list[str]:
    # The membership (with its team), or the personal team read on its own; not the
    # switcher's list of teams (a join).
    return [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith('SELECT "teams_membership"')
        or (q["sql"].startswith('SELECT "teams_team"') and "JOIN" not in q["sql"])
    ]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.VIEWER])
def test_the_add_website_page_reads_the_membership_once_and_checks_its_role(owner, team, role):
    member = add_member(team, f"{role}@example.com", role)
    client = client_for(member.user)
    client.post(reverse("teams:switch", args=[team.pk]))
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("websites:add"))
    assert response.status_code == (200 if role == Role.ADMIN else 403)
    if role == Role.ADMIN:
        assert response.context["team"] == team
    assert len(membership_reads(ctx)) == 1, membership_reads(ctx)


def test_a_deleted_user_takes_the_teams_they_alone_were_in(owner, team):
    solo = team_create(user=owner, name="Side project")
    website = website_create(owner=owner, team=solo, domain="side.example")
    shared = team_create(user=owner, name="Shared")
    co_owner = add_member(shared, "co-owner@example.com", Role.OWNER)

    owner.delete()
    assert not Team.objects.filter(pk__in=[solo.pk, team.pk]).exists()
    assert not Website.objects.filter(pk=website.pk).exists()
    # A team with another owner stays, with that owner.
    assert list(Membership.objects.filter(team=shared).values_list("pk", "role")) == [
        (co_owner.pk, Role.OWNER)
    ]


def test_a_user_cannot_leave_members_without_an_owner_not_even_by_the_admin(owner, team, viewer):
    from django.db import transaction
    from django.db.models import ProtectedError

    from simple_analytics.testing import make_user

    website = website_create(owner=owner, team=team, domain="agency.example")
    # Refused inside the delete's transaction: the savepoint keeps the test's own usable.
    with pytest.raises(ProtectedError, match="last owner of “Agency”"), transaction.atomic():
        owner.delete()
    assert Membership.objects.filter(team=team, user=owner, role=Role.OWNER).exists()

    superuser = make_user("root@example.com")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    staff = client_for(superuser)
    url = reverse("admin:auth_user_delete", args=[owner.pk])
    page = staff.get(url)
    assert page.status_code == 200
    assert b"Team: Agency. It has other members but no other owner" in page.content
    staff.post(url, {"post": "yes"})
    assert type(owner).objects.filter(pk=owner.pk).exists()

    ownership_transfer(actor=me(team, owner), member=viewer)
    page = staff.get(url)
    assert b"no other owner" not in page.content
    assert staff.post(url, {"post": "yes"}).status_code == 302
    assert not type(owner).objects.filter(pk=owner.pk).exists()
    assert Website.objects.filter(pk=website.pk, team=team).exists()
    assert me(team, viewer.user).role == Role.OWNER
