"""Team pages: the teams list and switcher, members and invitations, an invitation's link.

Who may do what is checked here, by ``membership_get_or_404(user, team, need=...)``:
outsiders get the 404 of a missing team, members below the role a 403. The services then
apply the team's own rules (the last owner stays, admins do not touch owners).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.http import AuthenticatedHttpRequest
from teams.forms import DeleteTeamForm, InviteForm, RoleForm, TeamForm
from teams.models import Membership, Role
from teams.selectors import (
    SESSION_KEY,
    invitation_get_for_team,
    member_list,
    membership_get,
    membership_get_or_404,
    team_list_for_user,
)
from teams.services import (
    TeamError,
    email_matches,
    invitation_accept,
    invitation_decline,
    invitation_get_open,
    invitation_invite,
    invitation_list_pending,
    invitation_revoke,
    member_leave,
    member_remove,
    member_set_role,
    ownership_transfer,
    team_create,
    team_delete,
)


def _data(request: HttpRequest) -> QueryDict | None:
    return request.POST if request.method == "POST" else None


def _switch_to(request: HttpRequest, team_id: int) -> None:
    request.session[SESSION_KEY] = team_id


@login_required
@require_http_methods(["GET", "POST"])
def team_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The user's teams, with their role in each, and a form to create one."""
    form = TeamForm(_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            team = team_create(user=request.user, name=form.cleaned_data["name"])
        except TeamError as exc:
            form.add_error("name", exc.message)
        else:
            _switch_to(request, team.pk)
            messages.success(request, f"Created the team {team.name}: invite its members here.")
            return redirect("teams:members", pk=team.pk)
    teams = list(team_list_for_user(request.user))
    roles = dict(Membership.objects.filter(user=request.user).values_list("team_id", "role"))
    memberships = [(team, Role(roles[team.pk]).label) for team in teams]
    return render(request, "teams/list.html", {"memberships": memberships, "form": form})


@login_required
@require_POST
def team_switch(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    member = membership_get_or_404(request.user, pk)
    _switch_to(request, member.team_id)
    return redirect("dashboard:websites")


@login_required
@require_GET
def members_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return _members_page(request, membership_get_or_404(request.user, pk))


def _members_page(
    request: AuthenticatedHttpRequest,
    me: Membership,
    form: InviteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    team = me.team
    can_manage = me.role in (Role.OWNER, Role.ADMIN)
    members = list(member_list(team))
    context = {
        "team": team,
        "me": me,
        "members": members,
        "can_manage": can_manage,
        "is_owner": me.role == Role.OWNER,
        "invitations": list(invitation_list_pending(team)) if can_manage else [],
        "form": form or InviteForm(),
        "roles": Role.choices
        if me.role == Role.OWNER
        else [(r.value, r.label) for r in (Role.ADMIN, Role.VIEWER)],
        "website_count": team.websites.count(),
        "invitation_days": settings.INVITATION_DAYS,
    }
    return render(request, "teams/members.html", context, status=status)


@login_required
@require_POST
def invite(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    me = membership_get_or_404(request.user, pk, need=Role.ADMIN)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation = invitation_invite(
                actor=me,
                **form.cleaned_data,
                accept_url=lambda token: _absolute(
                    request, reverse("teams:invitation", args=[token])
                ),
            )
        except TeamError as exc:
            form.add_error(exc.field or None, exc.message)
        else:
            days = settings.INVITATION_DAYS
            messages.success(
                request,
                f"Invited {invitation.email}: the link in the email works once, for {days} days.",
            )
            return redirect("teams:members", pk=pk)
    return _members_page(request, me, form, status=400)


def _absolute(request: HttpRequest, path: str) -> str:
    base: str = settings.BASE_URL
    return base + path if base else request.build_absolute_uri(path)


def _member_or_404(me: Membership, member_pk: int) -> Membership:
    member = (
        Membership.objects.select_related("user", "team")
        .filter(team_id=me.team_id, pk=member_pk)
        .first()
    )
    if member is None:
        raise Http404("No such member")
    return member


@login_required
@require_POST
def member_role(request: AuthenticatedHttpRequest, pk: int, member_pk: int) -> HttpResponse:
    me = membership_get_or_404(request.user, pk, need=Role.ADMIN)
    member = _member_or_404(me, member_pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, admin or viewer.")
        return redirect("teams:members", pk=pk)
    try:
        member_set_role(actor=me, member=member, role=form.cleaned_data["role"])
    except TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{member.user.email} is now {Role(member.role).label.lower()}.")
    return redirect("teams:members", pk=pk)


@login_required
@require_POST
def member_remove_view(request: AuthenticatedHttpRequest, pk: int, member_pk: int) -> HttpResponse:
    me = membership_get_or_404(request.user, pk, need=Role.ADMIN)
    member = _member_or_404(me, member_pk)
    try:
        member_remove(actor=me, member=member)
    except TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Removed {member.user.email} from the team.")
    return redirect("teams:members", pk=pk)


@login_required
@require_POST
def leave(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    me = membership_get_or_404(request.user, pk)
    try:
        member_leave(member=me)
    except TeamError as exc:
        messages.error(request, exc.message)
        return redirect("teams:members", pk=pk)
    request.session.pop(SESSION_KEY, None)
    messages.success(request, f"You left the team {me.team.name}.")
    return redirect("teams:list")


@login_required
@require_POST
def transfer(request: AuthenticatedHttpRequest, pk: int, member_pk: int) -> HttpResponse:
    me = membership_get_or_404(request.user, pk, need=Role.OWNER)
    member = _member_or_404(me, member_pk)
    try:
        ownership_transfer(actor=me, member=member)
    except TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{member.user.email} is now an owner; you are an admin.")
    return redirect("teams:members", pk=pk)


@login_required
@require_POST
def invitation_revoke_view(
    request: AuthenticatedHttpRequest, pk: int, invitation_pk: int
) -> HttpResponse:
    me = membership_get_or_404(request.user, pk, need=Role.ADMIN)
    invitation = invitation_get_for_team(me.team, invitation_pk)
    if invitation is None:
        raise Http404("No such invitation")
    if invitation.is_closed:
        messages.error(request, "That invitation was already used, declined or revoked.")
    else:
        invitation_revoke(actor=me, invitation=invitation)
        messages.success(request, f"Revoked the invitation of {invitation.email}.")
    return redirect("teams:members", pk=pk)


@login_required
@require_http_methods(["GET", "POST"])
def team_delete_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    me = membership_get_or_404(request.user, pk, need=Role.OWNER)
    team = me.team
    form = DeleteTeamForm(_data(request), team_name=team.name)
    if request.method == "POST" and form.is_valid():
        try:
            team_delete(team=team)
        except TeamError as exc:
            form.add_error(None, exc.message)
        else:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"Deleted the team {team.name} and its websites.")
            return redirect("teams:list")
    context = {
        "team": team,
        "form": form,
        "websites": list(team.websites.all()),
    }
    return render(request, "teams/delete.html", context)


# --- an invitation's link -------------------------------------------------------------


def _invitation_gone(request: HttpRequest) -> HttpResponse:
    # Unknown, used, declined, revoked and expired links look the same.
    return render(request, "teams/invitation_gone.html", status=404)


@login_required
@require_http_methods(["GET", "POST"])
def invitation(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    """The link of an invitation email: shows the offer; POST accepts it. Someone without
    an account signs up first and comes back here (the login page's ``next``)."""
    found = invitation_get_open(token)
    if found is None:
        return _invitation_gone(request)
    if not email_matches(found, request.user):
        wrong = {"invitation": found}
        return render(request, "teams/invitation_wrong_email.html", wrong, status=403)
    if request.method == "POST":
        try:
            invitation_accept(invitation=found, user=request.user)
        except TeamError as exc:
            messages.error(request, exc.message)
            return _invitation_gone(request)
        _switch_to(request, found.team_id)
        messages.success(request, f"You joined the team {found.team.name}.")
        return redirect("dashboard:websites")
    already = membership_get(request.user, found.team_id) is not None
    context: dict[str, object] = {"invitation": found, "already": already, "token": token}
    return render(request, "teams/invitation.html", context)


@login_required
@require_POST
def invitation_decline_view(request: AuthenticatedHttpRequest, token: str) -> HttpResponse:
    found = invitation_get_open(token)
    if found is None:
        return _invitation_gone(request)
    try:
        invitation_decline(invitation=found, user=request.user)
    except TeamError as exc:
        return render(
            request,
            "teams/invitation_wrong_email.html",
            {"invitation": found, "error": exc.message},
            status=403,
        )
    messages.success(request, f"You declined the invitation to {found.team.name}.")
    return redirect("teams:list")
