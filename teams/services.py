"""Writes of teams: create and delete teams, invite, accept, decline, revoke, leave, change
roles and transfer ownership.

Services check the team's own rules (the last owner stays, an admin cannot touch owners);
views and the API check who is asking (``teams.selectors.membership_get``) before calling.
Each raises ``TeamError`` with a message for the person when a rule refuses the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import smtplib
from collections.abc import Callable
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from teams.models import Invitation, Membership, Role, Team, role_at_least

log = logging.getLogger(__name__)

MAX_TEAM_NAME_CHARS = 100
# Pending invitations per team: enough for a big agency, few enough to stop a flood of mail.
MAX_PENDING_INVITATIONS = 100
INVITABLE_ROLES = (Role.ADMIN, Role.VIEWER)


class TeamError(Exception):
    """A change a team's rules refuse; ``message`` says why, for the person who asked."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        # The input it is about, for forms and the API ("" when none is).
        self.field = field


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def team_personal_get(user: AbstractBaseUser) -> Team:
    """The user's personal team, created (with the user as its owner) if missing."""
    team = Team.objects.filter(personal_for_id=user.pk).first()
    if team is not None:
        return team
    try:
        with transaction.atomic():
            team = Team.objects.create(name=_personal_name(user), personal_for_id=user.pk)
            Membership.objects.create(team=team, user_id=user.pk, role=Role.OWNER)
    except IntegrityError:  # created meanwhile by another request of the same user
        team = Team.objects.get(personal_for_id=user.pk)
    return team


def _personal_name(user: AbstractBaseUser) -> str:
    # What the team's other members see it as; its owner sees "Personal".
    email = getattr(user, "email", "") or user.get_username()
    return email[:MAX_TEAM_NAME_CHARS] or "Personal"


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise TeamError("Give the team a name.")
    if len(name) > MAX_TEAM_NAME_CHARS:
        raise TeamError(f"A team name has at most {MAX_TEAM_NAME_CHARS} characters.")
    return name


def team_create(*, user: AbstractBaseUser, name: str) -> Team:
    """A new team with ``user`` as its only owner."""
    name = _clean_name(name)
    with transaction.atomic():
        team = Team.objects.create(name=name)
        Membership.objects.create(team=team, user_id=user.pk, role=Role.OWNER)
    return team


def team_rename(*, team: Team, name: str) -> Team:
    team.name = _clean_name(name)
    team.save(update_fields=["name"])
    return team


def team_delete(*, team: Team) -> None:
    """Delete the team with its websites and all their data (by cascade)."""
    if team.is_personal:
        raise TeamError("A personal team cannot be deleted; delete its websites instead.")
    team.delete()


@dataclass(frozen=True)
class UserDeparture:
    """What deleting a user does to the shared teams they are the last owner of."""

    # No other member: deleted with the user, websites and data included.
    deleted: list[Team]
    # Other members, none of them an owner: the user cannot be deleted until one is.
    blocking: list[Team]


def user_departure(*users: AbstractBaseUser) -> UserDeparture:
    """The shared teams whose last owners are among ``users``, deleted together (the
    personal teams go with their users in any case)."""
    deleted: list[Team] = []
    blocking: list[Team] = []
    pks = [user.pk for user in users]
    owned = Team.objects.filter(
        personal_for__isnull=True, memberships__user__in=pks, memberships__role=Role.OWNER
    ).distinct()
    for team in owned.order_by("name", "id"):
        others = Membership.objects.filter(team=team).exclude(user__in=pks)
        if others.filter(role=Role.OWNER).exists():
            continue
        (blocking if others.exists() else deleted).append(team)
    return UserDeparture(deleted=deleted, blocking=blocking)


# --- members ----------------------------------------------------------------------------


def _owners(team: Team) -> int:
    return Membership.objects.filter(team=team, role=Role.OWNER).count()


def member_set_role(*, actor: Membership, member: Membership, role: str) -> Membership:
    """``actor`` (a membership of the same team) gives ``member`` the role ``role``.

    Admins manage admins and viewers; only owners make or unmake owners; a team keeps at
    least one owner.
    """
    if role not in Role.values:
        raise TeamError("Unknown role.")
    if not role_at_least(actor.role, Role.ADMIN):
        raise TeamError("Only admins and owners change roles.")
    touches_owner = Role.OWNER in (role, member.role)
    if touches_owner and actor.role != Role.OWNER:
        raise TeamError("Only an owner can make someone an owner or change an owner's role.")
    with transaction.atomic():
        # Locks the team's owner rows: two owners demoting each other at once keep one.
        list(Membership.objects.select_for_update().filter(team_id=member.team_id, role=Role.OWNER))
        if member.role == Role.OWNER and role != Role.OWNER and _owners(member.team) <= 1:
            raise TeamError("A team needs an owner: make someone else owner first.")
        member.role = role
        member.save(update_fields=["role"])
    return member


def member_remove(*, actor: Membership, member: Membership) -> None:
    """``actor`` removes ``member`` from the team (admins remove admins and viewers)."""
    if not role_at_least(actor.role, Role.ADMIN):
        raise TeamError("Only admins and owners remove members.")
    if member.role == Role.OWNER and actor.role != Role.OWNER:
        raise TeamError("Only an owner can remove an owner.")
    _member_delete(member)


def member_leave(*, member: Membership) -> None:
    """The member leaves the team; the last owner cannot (delete the team, or make someone
    else owner first)."""
    if member.team.personal_for_id == member.user_id:
        raise TeamError("You cannot leave your personal team.")
    _member_delete(member)


def _member_delete(member: Membership) -> None:
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(team_id=member.team_id, role=Role.OWNER))
        if member.role == Role.OWNER and _owners(member.team) <= 1:
            raise TeamError("A team needs an owner: make someone else owner first.")
        member.delete()


def ownership_transfer(*, actor: Membership, member: Membership) -> None:
    """The owner ``actor`` makes ``member`` an owner and becomes an admin."""
    if actor.role != Role.OWNER:
        raise TeamError("Only an owner can transfer ownership.")
    if member.role == Role.OWNER:
        raise TeamError("They are already an owner.")
    with transaction.atomic():
        Membership.objects.filter(pk=member.pk).update(role=Role.OWNER)
        Membership.objects.filter(pk=actor.pk).update(role=Role.ADMIN)
    member.role, actor.role = Role.OWNER, Role.ADMIN


# --- invitations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    invitation: Invitation
    # The secret of the link, known only now: it goes into the email and nowhere else.
    token: str


def invitation_create(
    *, actor: Membership, email: str, role: str, now: dt.datetime | None = None
) -> Issued:
    """An invitation of ``email`` to the actor's team with ``role`` (admin or viewer),
    valid ``INVITATION_DAYS``; a pending one for the same address is replaced."""
    if not role_at_least(actor.role, Role.ADMIN):
        raise TeamError("Only admins and owners invite members.")
    if role not in INVITABLE_ROLES:
        raise TeamError(
            "Invite as admin or viewer; make an owner by transferring ownership.", "role"
        )
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise TeamError("Enter a valid email address.", "email") from None
    team = actor.team
    if Membership.objects.filter(team=team, user__email__iexact=email).exists():
        raise TeamError(f"{email} is already a member of this team.", "email")
    now = now or timezone.now()
    pending = invitation_list_pending(team, now=now)
    if pending.count() >= MAX_PENDING_INVITATIONS:
        raise TeamError(f"A team can have at most {MAX_PENDING_INVITATIONS} open invitations.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        pending.filter(email=email).update(revoked_at=now)
        invitation = Invitation.objects.create(
            team=team,
            email=email,
            role=role,
            token_hash=hash_token(token),
            invited_by_id=actor.user_id,
            created_at=now,
            expires_at=now + dt.timedelta(days=settings.INVITATION_DAYS),
        )
    return Issued(invitation, token)


def invitation_list_pending(team: Team, *, now: dt.datetime | None = None) -> QuerySet[Invitation]:
    """The team's invitations whose links still open, newest first."""
    return invitation_list_pending_all(now=now).filter(team=team)


def invitation_get_open(token: str, *, now: dt.datetime | None = None) -> Invitation | None:
    """The pending, unexpired invitation whose link carries ``token``; None for anything
    else (unknown, used, declined, revoked, expired), all alike."""
    if not token or len(token) > 100:
        return None
    return (
        invitation_list_pending_all(now=now)
        .select_related("team", "invited_by")
        .filter(token_hash=hash_token(token))
        .first()
    )


def invitation_list_pending_all(*, now: dt.datetime | None = None) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        accepted_at__isnull=True,
        declined_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now or timezone.now(),
    )


def email_matches(invitation: Invitation, user: AbstractBaseUser) -> bool:
    """Whether ``user`` may answer ``invitation``: the invited address is one of the user's
    verified ones. An unverified one is not enough: whoever holds a leaked link could sign
    up with the invited address (docs/SECURITY.md, "Team invitations")."""
    matches = EmailAddress.objects.filter(
        user_id=user.pk, email__iexact=invitation.email, verified=True
    )
    return bool(matches.exists())


def invitation_accept(
    *, invitation: Invitation, user: AbstractBaseUser, now: dt.datetime | None = None
) -> Membership:
    """``user`` joins the team with the invited role; the link is used up."""
    if not email_matches(invitation, user):
        raise TeamError(f"This invitation is for {invitation.email}: log in with that address.")
    now = now or timezone.now()
    with transaction.atomic():
        # The conditional update is the single use: of two requests racing with one
        # link, one updates the row and the other finds it closed.
        used = invitation_list_pending_all(now=now).filter(pk=invitation.pk).update(accepted_at=now)
        if not used:
            raise TeamError("This invitation is no longer valid.")
        member, created = Membership.objects.get_or_create(
            team_id=invitation.team_id, user_id=user.pk, defaults={"role": invitation.role}
        )
    invitation.accepted_at = now
    return member


def invitation_decline(
    *, invitation: Invitation, user: AbstractBaseUser, now: dt.datetime | None = None
) -> None:
    if not email_matches(invitation, user):
        raise TeamError(f"This invitation is for {invitation.email}: log in with that address.")
    now = now or timezone.now()
    invitation_list_pending_all(now=now).filter(pk=invitation.pk).update(declined_at=now)
    invitation.declined_at = now


def invitation_revoke(*, actor: Membership, invitation: Invitation) -> None:
    if not role_at_least(actor.role, Role.ADMIN) or actor.team_id != invitation.team_id:
        raise TeamError("Only admins and owners revoke invitations.")
    now = timezone.now()
    Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(revoked_at=now)
    invitation.revoked_at = now


def invitation_invite(
    *, actor: Membership, email: str, role: str, accept_url: Callable[[str], str]
) -> Invitation:
    """Create an invitation (``invitation_create``) and mail its link, ``accept_url(token)``.
    If the mail cannot be sent the invitation is revoked and ``TeamError`` says so."""
    issued = invitation_create(actor=actor, email=email, role=role)
    try:
        invitation_send(issued=issued, accept_url=accept_url(issued.token))
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("invitation email to %s failed: %s", issued.invitation.email, exc)
        invitation_revoke(actor=actor, invitation=issued.invitation)
        raise TeamError("The invitation email could not be sent; try again later.") from exc
    return issued.invitation


def invitation_send(*, issued: Issued, accept_url: str) -> None:
    """Mail the invitation's link (``accept_url``, absolute, with the token) through the
    configured email backend, as text and HTML."""
    invitation = issued.invitation
    inviter = invitation.invited_by
    context = {
        "invitation": invitation,
        "team": invitation.team,
        "inviter": getattr(inviter, "email", "") or "A team admin",
        "accept_url": accept_url,
        "days": settings.INVITATION_DAYS,
    }
    subject = f"You are invited to the team {invitation.team.name} on Simple Analytics"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("teams/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    )
    message.attach_alternative(
        render_to_string("teams/email/invitation.html", context), "text/html"
    )
    message.send()
