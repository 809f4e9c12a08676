"""Reads of teams: a user's teams and memberships, the team a session is looking at.

Outsiders never learn that a team exists: the lookups here answer None for a team the user
is not in, and views turn that into the 404 of a missing team.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, QuerySet, Value, When
from django.http import Http404, HttpRequest

from teams.models import Invitation, Membership, Role, RoleRequired, Team, role_at_least

User = AbstractBaseUser | AnonymousUser
# The session key of the team the websites list and the header show.
SESSION_KEY = "team"
_CURRENT = "_teams_current"  # the request attribute holding what _current read
_MAX_ID = 2**63 - 1


def membership_get(user: User, team_id: int | None) -> Membership | None:
    """The user's membership of the team, or None (no such team, or not a member)."""
    # Past a bigint no row can match (and SQLite cannot even bind the number).
    if user.pk is None or team_id is None or not 0 < team_id <= _MAX_ID:
        return None
    return (
        Membership.objects.select_related("team", "user")
        .filter(team_id=team_id, user_id=user.pk)
        .first()
    )


def membership_get_or_404(user: User, team_id: int, need: str = Role.VIEWER) -> Membership:
    """The user's membership of the team: ``Http404`` for an outsider (as for a team that
    does not exist), ``PermissionDenied`` (403) for a member whose role is below ``need``."""
    return _required(membership_get(user, team_id), need)


def _required(member: Membership | None, need: str) -> Membership:
    if member is None:
        raise Http404("No such team")
    if not role_at_least(member.role, need):
        raise RoleRequired(need)
    return member


def team_list_for_user(user: User, need: str = Role.VIEWER) -> QuerySet[Team]:
    """The teams where the user has at least the role ``need``: their personal one first,
    then by name."""
    if user.pk is None:
        return Team.objects.none()
    roles = [role for role in Role.values if role_at_least(role, need)]
    own_first = Case(When(personal_for_id=user.pk, then=Value(0)), default=Value(1))
    teams = Team.objects.filter(memberships__user_id=user.pk, memberships__role__in=roles)
    return teams.order_by(own_first, "name", "id")


def team_current(request: HttpRequest) -> Team | None:
    """The team the session looks at: the one chosen in the switcher if the user is still in
    it, else the user's personal team (None for an anonymous request)."""
    return _current(request)[0]


def membership_current(request: HttpRequest) -> Membership | None:
    """The user's membership of ``team_current(request)`` (None for an anonymous request)."""
    return _current(request)[1]


def membership_current_or_404(request: HttpRequest, need: str = Role.VIEWER) -> Membership:
    """``membership_current(request)``, refused as ``membership_get_or_404`` refuses."""
    return _required(membership_current(request), need)


def _current(request: HttpRequest) -> tuple[Team | None, Membership | None]:
    # Read once per request: the view, its role check and the header's switcher ask.
    found: tuple[Team | None, Membership | None] | None = getattr(request, _CURRENT, None)
    if found is None:
        found = _current_read(request)
        setattr(request, _CURRENT, found)
    return found


def _current_read(request: HttpRequest) -> tuple[Team | None, Membership | None]:
    user = request.user
    if not user.is_authenticated:
        return None, None
    chosen = request.session.get(SESSION_KEY)
    member = membership_get(user, chosen) if isinstance(chosen, int) else None
    if member is None:
        member = (
            Membership.objects.select_related("team", "user")
            .filter(team__personal_for_id=user.pk, user_id=user.pk)
            .first()
        )
    if member is not None:
        return member.team, member
    return Team.objects.filter(personal_for_id=user.pk).first(), None


def member_list(team: Team) -> QuerySet[Membership]:
    """The team's members, owners first, then admins, then viewers, by email."""
    rank = Case(
        When(role=Role.OWNER, then=Value(0)),
        When(role=Role.ADMIN, then=Value(1)),
        default=Value(2),
    )
    return (
        Membership.objects.filter(team=team)
        .select_related("user")
        .order_by(rank, "user__email", "id")
    )


def invitation_get_for_team(team: Team, invitation_id: int) -> Invitation | None:
    return Invitation.objects.filter(team=team, pk=invitation_id).first()
