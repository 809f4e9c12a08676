"""Invitations end to end through the pages: the email that arrives (Django's outbox), its
link, and what accepting, declining, revoking, expiry and reuse do."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from teams.models import Invitation, Membership, Role
from teams.services import hash_token, invitation_create
from teams.tests.conftest import client_for, verified_user

pytestmark = pytest.mark.django_db

_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
_LINK = re.compile(r"https?://[^\s\"<>]+/invitations/([A-Za-z0-9_-]+)/")


def invite(client: Client, team_pk: int, email: str, role: str = Role.VIEWER) -> str:
    """Invite through the members page; the token of the link in the email sent."""
    mail.outbox.clear()
    response = client.post(reverse("teams:invite", args=[team_pk]), {"email": email, "role": role})
    assert response.status_code == 302, response.content
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [email.lower()]
    html = message.alternatives[0][0]
    tokens = {m for m in _LINK.findall(message.body)} | {m for m in _LINK.findall(html)}
    assert len(tokens) == 1, (message.body, html)
    return tokens.pop()


def link(token: str) -> str:
    return reverse("teams:invitation", args=[token])


def test_an_invitation_email_carries_a_link_whose_token_is_stored_only_as_a_hash(owner, team):
    token = invite(client_for(owner), team.pk, "new@example.com")
    invitation = Invitation.objects.get()
    assert invitation.token_hash == hash_token(token)
    assert token not in str(list(Invitation.objects.values_list()))
    assert invitation.role == Role.VIEWER and invitation.email == "new@example.com"
    assert invitation.expires_at - invitation.created_at == dt.timedelta(days=7)
    assert "Agency" in mail.outbox[0].subject
    assert "works once, for 7 days" in mail.outbox[0].body


@override_settings(BASE_URL="https://stats.example.org")
def test_the_link_uses_base_url(owner, team):
    invite(client_for(owner), team.pk, "new@example.com")
    assert "https://stats.example.org/invitations/" in mail.outbox[0].body


def test_accepting_joins_with_the_role_and_the_link_works_once(owner, team):
    token = invite(client_for(owner), team.pk, "new@example.com", Role.ADMIN)
    invited = client_for(verified_user("new@example.com"))
    page = invited.get(link(token))
    assert page.status_code == 200
    assert b"Join Agency?" in page.content and b"as <strong>admin</strong>" in page.content
    assert invited.post(link(token)).status_code == 302
    member = Membership.objects.get(team=team, user__email="new@example.com")
    assert member.role == Role.ADMIN
    assert Invitation.objects.get().accepted_at is not None
    # The switcher now shows the team.
    assert invited.get(reverse("dashboard:websites")).context["current_team"].pk == team.pk
    # Used: the link opens nothing, for the same user or anyone.
    again = invited.post(link(token))
    assert again.status_code == 404 and b"not valid" in again.content
    assert Membership.objects.filter(team=team).count() == 2


def test_a_user_with_another_address_cannot_accept_or_decline(owner, team):
    token = invite(client_for(owner), team.pk, "new@example.com")
    stranger = client_for(verified_user("stranger@example.com"))
    for response in (stranger.get(link(token)), stranger.post(link(token))):
        assert response.status_code == 403
        assert b"for another address" in response.content
    declined = stranger.post(reverse("teams:decline", args=[token]))
    assert declined.status_code == 403
    invitation = Invitation.objects.get()
    assert not invitation.is_closed
    assert not Membership.objects.filter(user__email="stranger@example.com", team=team).exists()


def test_an_unverified_address_is_not_enough(owner, team):
    """Whoever holds a leaked link could sign up with the invited address: until that
    address is confirmed, the link does not let them in."""
    from simple_analytics.testing import make_user

    token = invite(client_for(owner), team.pk, "new@example.com")
    squatter = client_for(make_user("new@example.com"))
    assert squatter.post(link(token)).status_code == 403
    assert Membership.objects.filter(team=team).count() == 1


def test_an_anonymous_visitor_is_sent_to_log_in_and_back(owner, team):
    token = invite(client_for(owner), team.pk, "new@example.com")
    response = Client().get(link(token))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=" in response["Location"]


def test_signing_up_confirming_and_accepting(owner, team):
    """Someone without an account: sign up from the link, confirm the address from the
    email allauth sends, then accept."""
    token = invite(client_for(owner), team.pk, "fresh@example.com")
    client = Client()
    mail.outbox.clear()
    signup = client.post(
        reverse("account_signup") + "?next=" + link(token),
        {
            "email": "fresh@example.com",
            "password1": "a-long-pass-phrase-7",
            "password2": "a-long-pass-phrase-7",
        },
    )
    assert signup.status_code == 302, signup.content
    assert client.post(link(token)).status_code == 403  # not confirmed yet
    confirm = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body)
    assert confirm is not None, mail.outbox[-1].body
    client.post(confirm.group(0).split("testserver", 1)[-1])
    assert client.post(link(token)).status_code == 302
    assert Membership.objects.get(team=team, user__email="fresh@example.com").role == Role.VIEWER


def test_declining_closes_the_link(owner, team):
    token = invite(client_for(owner), team.pk, "new@example.com")
    invited = client_for(verified_user("new@example.com"))
    assert invited.post(reverse("teams:decline", args=[token])).status_code == 302
    assert Invitation.objects.get().declined_at is not None
    assert invited.post(link(token)).status_code == 404
    assert not Membership.objects.filter(team=team, user__email="new@example.com").exists()


def test_a_revoked_invitation_opens_nothing(owner, team):
    owner_client = client_for(owner)
    token = invite(owner_client, team.pk, "new@example.com")
    invitation = Invitation.objects.get()
    members_page = owner_client.get(reverse("teams:members", args=[team.pk]))
    assert b'data-invitation="new@example.com"' in members_page.content
    revoke = reverse("teams:invitation_revoke", args=[team.pk, invitation.pk])
    assert owner_client.post(revoke).status_code == 302
    invited = client_for(verified_user("new@example.com"))
    gone = invited.get(link(token))
    unknown = invited.get(link("x" * 43))
    assert gone.status_code == unknown.status_code == 404
    assert _CSRF.sub(b"", gone.content) == _CSRF.sub(b"", unknown.content)
    after = owner_client.get(reverse("teams:members", args=[team.pk])).content
    assert b'data-invitation="new@example.com"' not in after


def test_an_expired_invitation_opens_nothing(owner, team):
    actor = Membership.objects.get(team=team, user=owner)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=8)
    issued = invitation_create(actor=actor, email="new@example.com", role=Role.VIEWER, now=old)
    invited = client_for(verified_user("new@example.com"))
    assert invited.post(link(issued.token)).status_code == 404
    assert not Membership.objects.filter(team=team, user__email="new@example.com").exists()


def test_inviting_again_replaces_the_pending_invitation(owner, team):
    client = client_for(owner)
    first = invite(client, team.pk, "new@example.com")
    second = invite(client, team.pk, "NEW@example.com", Role.ADMIN)
    invited = client_for(verified_user("new@example.com"))
    assert invited.post(link(first)).status_code == 404
    assert invited.post(link(second)).status_code == 302
    assert Membership.objects.get(team=team, user__email="new@example.com").role == Role.ADMIN


def test_bad_invitations_are_refused_with_a_message(owner, team, admin, viewer):
    client = client_for(owner)
    url = reverse("teams:invite", args=[team.pk])
    for data, message in [
        ({"email": "not-an-address", "role": Role.VIEWER}, b"valid email"),
        ({"email": "x@example.com", "role": Role.OWNER}, b"Select a valid choice"),
        ({"email": "viewer@example.com", "role": Role.ADMIN}, b"already a member"),
    ]:
        response = client.post(url, data)
        assert response.status_code == 400, data
        assert message in response.content, data
    assert not mail.outbox and not Invitation.objects.exists()
    # A viewer cannot invite at all; an outsider gets the 404 of a missing team.
    viewer_client = client_for(viewer.user)
    data = {"email": "x@example.com", "role": Role.VIEWER}
    assert viewer_client.post(url, data).status_code == 403
    outsider = client_for(verified_user("out@example.com"))
    assert outsider.post(url, data).status_code == 404
    # An admin can.
    assert client_for(admin.user).post(url, data).status_code == 302


def test_an_invitation_whose_email_cannot_be_sent_is_revoked_with_a_message(owner, team, settings):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    response = client_for(owner).post(
        reverse("teams:invite", args=[team.pk]), {"email": "new@example.com", "role": "viewer"}
    )
    assert response.status_code == 400
    assert b"could not be sent" in response.content
    assert Invitation.objects.get().revoked_at is not None
