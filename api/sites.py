"""The sites API (``/api/v1/sites...``): a key's user lists, creates, changes and deletes
the websites of their teams, their goals, funnels and share links, and invites members,
with the services and rules of the settings pages.

Every request: method (405) -> key (401/429, as the stats API) -> scope (403 for a write
with a read-only key) -> object (404: a website outside the user's teams answers like a
missing one) -> role (403: reads need any role in the website's team, writes and the
members list admin) -> body (400 naming the field) -> service. Keys authenticate by header only, never by session
cookie, so the views are CSRF-exempt: a cross-site page cannot make a browser send them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from api.views import ApiError, _error, api_key
from goals.models import Funnel, Goal
from goals.selectors import funnel_list, goal_list
from goals.services import funnel_create, funnel_delete, goal_create, goal_delete
from teams.models import Invitation, Membership, Role, Team, role_at_least
from teams.selectors import member_list, membership_get
from teams.services import (
    TeamError,
    invitation_invite,
    invitation_list_pending,
    invitation_revoke,
    team_personal_get,
)
from websites.forms import ShareLinkForm, WebsiteForm
from websites.models import ShareLink, Website
from websites.selectors import website_get_by_tracking_id_for_user, website_list_for_user
from websites.services import (
    normalise_allowed_hostnames,
    normalise_excluded_ips,
    normalise_excluded_paths,
    public_base_url,
    snippet,
    website_create,
    website_delete,
    website_update,
)
from websites.sharing import (
    share_link_create,
    share_link_get_for_website,
    share_link_list,
    share_link_revoke,
)

# A website with 100 entries in each list fits in a few kilobytes.
MAX_BODY_BYTES = 64 * 1024
# Tracking ids are letters, digits, "-" and "_" (older ids): anything else names no site.
_TRACKING_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Ids are ASCII digits (int() also takes "٣" and "1_0"); past a bigint they name nothing.
_ID = re.compile(r"[0-9]{1,19}")
_MAX_ID = 2**63 - 1

Handler = Callable[..., HttpResponse]
Json = dict[str, Any]


def _endpoint(**handlers: Handler) -> Callable[..., HttpResponse]:
    """One URL: a handler per method, each called as ``handler(request, user, **kwargs)``."""
    allowed = ", ".join(handlers)

    @csrf_exempt
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        handler = handlers.get(request.method or "")
        if handler is None:
            response = _error(405, f"method not allowed here; use {allowed}")
            response["Allow"] = allowed
            return response
        try:
            key = api_key(request)
            if request.method != "GET" and not key.can_write:
                raise ApiError(403, "this key is read-only")
            return handler(request, key.user, **kwargs)
        except ApiError as exc:
            return _error(exc.status, exc.message, exc.retry_after)

    return view


def _field_error(field: str, message: str) -> ApiError:
    return ApiError(400, f"{field}: {message}")


def _validation_error(exc: ValidationError, default_field: str | None = None) -> ApiError:
    """The first problem a service or form found, named by its field."""
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.message_dict.items()))
        if field != "__all__":
            return _field_error(field, errors[0])
    message = exc.messages[0] if exc.messages else "invalid value"
    return _field_error(default_field, message) if default_field else ApiError(400, message)


def _body(request: HttpRequest, fields: Mapping[str, type]) -> Json:
    """The JSON object sent, each member of a known field and type; 400 or 413 otherwise.

    ``fields`` maps names to ``str``, ``int`` (positive) or ``list`` (of strings)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_BODY_BYTES:
        raise ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "the request body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    for name, value in data.items():
        kind = fields.get(name)
        if kind is None:
            known = ", ".join(fields)
            raise _field_error(_shown(name), f"unknown field; the fields are {known}")
        if kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_ID:
                raise _field_error(name, "must be a positive integer")
        elif kind is str:
            _check_text(name, value)
        elif not isinstance(value, list):
            raise _field_error(name, "must be a list of strings")
        else:
            for item in value:
                _check_text(name, item, "must be a list of strings")
    return data


def _check_text(field: str, value: object, wrong_type: str = "must be a string") -> None:
    if not isinstance(value, str):
        raise _field_error(field, wrong_type)
    # PostgreSQL stores neither NUL nor lone surrogates: refuse them on every database alike.
    if "\x00" in value:
        raise _field_error(field, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _field_error(field, "is not valid Unicode") from None


def _shown(text: str) -> str:
    safe = text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return safe if len(safe) <= 60 else safe[:57] + "…"


def _id(value: str) -> int | None:
    """A path's id; None for anything no row can have. The route takes any text, so a
    malformed id is this API's JSON 404, not the site's HTML one."""
    return int(value) if _ID.fullmatch(value) and 0 < int(value) <= _MAX_ID else None


# --- websites -------------------------------------------------------------------------

_LISTS = {
    "allowed_hostnames": normalise_allowed_hostnames,
    "excluded_ips": normalise_excluded_ips,
    "excluded_paths": normalise_excluded_paths,
}
_SITE_FIELDS: dict[str, type] = {"domain": str, "name": str, "timezone": str}
_SITE_FIELDS.update(dict.fromkeys(_LISTS, list))


def _website(request: HttpRequest, user: User, site: str, need: str | None = None) -> Website:
    """The website ``site`` of one of the user's teams; 404 outside them. The user's role
    there must be ``need``: by default any for a GET, admin for a write (else 403)."""
    website = (
        website_get_by_tracking_id_for_user(user, site) if _TRACKING_ID.fullmatch(site) else None
    )
    if website is None:
        raise ApiError(404, "no such site")
    need = need or (Role.VIEWER if request.method == "GET" else Role.ADMIN)
    if not role_at_least(website.role, need):
        raise ApiError(403, f"this needs the {need} role in the website's team")
    return website


def _site_json(request: HttpRequest, website: Website) -> Json:
    return {
        "site": website.tracking_id,
        "id": website.pk,
        "domain": website.domain,
        "name": website.name,
        "timezone": website.timezone,
        "allowed_hostnames": website.allowed_hostnames.split(),
        "excluded_ips": website.excluded_ips.split(),
        "excluded_paths": website.excluded_paths.split(),
        "created_at": website.created_at.isoformat(),
        "snippet": snippet(website, public_base_url(request)),
        "team": {"id": website.team_id, "name": website.team.name},
        "role": website.role,
    }


def _site_values(data: Json, team: Team, website: Website | None) -> dict[str, str]:
    """The fields sent, checked and normalised by the website pages' form and services."""
    values: dict[str, str] = {}
    main = {k: data[k] for k in ("domain", "name", "timezone") if k in data}
    if website is None and "domain" not in main:
        raise _field_error("domain", "This field is required.")
    if main:
        current = {"domain": website.domain, "name": website.name} if website else {}
        current["timezone"] = website.timezone if website else "UTC"
        form = WebsiteForm({**current, **main}, team=team, website=website)
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            if field in main or field == "__all__":
                raise _field_error(field, str(errors[0]))
            raise _field_error(field, f"{errors[0]} (the website's current value)")
        values.update({k: form.cleaned_data[k] for k in main})
    for field, normalise in _LISTS.items():
        if field in data:
            try:
                values[field] = normalise("\n".join(data[field]))
            except ValidationError as exc:
                raise _validation_error(exc, field) from None
    return values


def _sites_list(request: HttpRequest, user: User) -> HttpResponse:
    sites = [_site_json(request, w) for w in website_list_for_user(user)]
    return JsonResponse({"sites": sites})


def _site_create(request: HttpRequest, user: User) -> HttpResponse:
    data = _body(request, {**_SITE_FIELDS, "team": int})
    team = _team_for_create(user, data.pop("team", None))
    values = _site_values(data, team, None)
    lists = {k: values.pop(k) for k in ("excluded_ips", "excluded_paths") if k in values}
    try:
        with transaction.atomic():
            website = website_create(owner=user, team=team, **values)
            website.role = Role.OWNER if team.personal_for_id == user.pk else Role.ADMIN
            if lists:
                website_update(website=website, **lists)
    except ValidationError as exc:  # the checks above are the same rules; belt and braces
        raise _validation_error(exc) from None
    return JsonResponse(_site_json(request, website), status=201)


def _site_get(request: HttpRequest, user: User, site: str) -> HttpResponse:
    return JsonResponse(_site_json(request, _website(request, user, site)))


def _team_for_create(user: User, team_id: object) -> Team:
    """The team a new website joins: ``team`` of the body (one the user is an admin or owner
    of: else 404 or 403, as for websites), or the user's personal team."""
    if team_id is None:
        return team_personal_get(user)
    member = membership_get(user, team_id if isinstance(team_id, int) else None)
    if member is None:
        raise _field_error("team", "no such team")
    if not role_at_least(member.role, Role.ADMIN):
        raise ApiError(403, "this needs the admin role in the team")
    return member.team


def _site_update(request: HttpRequest, user: User, site: str) -> HttpResponse:
    website = _website(request, user, site)
    values = _site_values(_body(request, _SITE_FIELDS), website.team, website)
    try:
        website_update(website=website, **values)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    return JsonResponse(_site_json(request, website))


def _site_delete(request: HttpRequest, user: User, site: str) -> HttpResponse:
    website_delete(website=_website(request, user, site))
    return HttpResponse(status=204)


# --- goals ----------------------------------------------------------------------------

_GOAL_FIELDS = dict.fromkeys(
    ("kind", "name", "event_name", "prop_key", "prop_value", "page_pattern"), str
)


def _goal_json(goal: Goal) -> Json:
    return {
        "id": goal.pk,
        "name": goal.name,
        "kind": goal.kind,
        "event_name": goal.event_name,
        "prop_key": goal.prop_key,
        "prop_value": goal.prop_value,
        "page_pattern": goal.page_pattern,
        "created_at": goal.created_at.isoformat(),
    }


def _goals_list(request: HttpRequest, user: User, site: str) -> HttpResponse:
    goals = [_goal_json(g) for g in goal_list(_website(request, user, site))]
    return JsonResponse({"site": site, "goals": goals})


def _goal_create(request: HttpRequest, user: User, site: str) -> HttpResponse:
    website = _website(request, user, site)
    data = _body(request, _GOAL_FIELDS)
    if "kind" not in data:
        raise _field_error("kind", 'This field is required: "event" or "page".')
    try:
        goal = goal_create(website=website, **data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    return JsonResponse(_goal_json(goal), status=201)


def _goal_delete(request: HttpRequest, user: User, site: str, goal_id: str) -> HttpResponse:
    website = _website(request, user, site)
    pk = _id(goal_id)
    goal = Goal.objects.filter(website=website, pk=pk).first() if pk else None
    if goal is None:
        raise ApiError(404, "no such goal")
    try:
        goal_delete(goal=goal)
    except ValidationError as exc:  # a step of a funnel
        raise ApiError(409, exc.messages[0]) from None
    return HttpResponse(status=204)


# --- funnels --------------------------------------------------------------------------

_FUNNEL_FIELDS: dict[str, type] = {"name": str, "steps": list}


def _funnel_json(funnel: Funnel) -> Json:
    return {
        "id": funnel.pk,
        "name": funnel.name,
        "steps": [step.goal.name for step in funnel.steps.all()],
        "created_at": funnel.created_at.isoformat(),
    }


def _funnels_list(request: HttpRequest, user: User, site: str) -> HttpResponse:
    funnels = [_funnel_json(f) for f in funnel_list(_website(request, user, site))]
    return JsonResponse({"site": site, "funnels": funnels})


def _funnel_create(request: HttpRequest, user: User, site: str) -> HttpResponse:
    website = _website(request, user, site)
    data = _body(request, _FUNNEL_FIELDS)
    try:
        funnel = funnel_create(
            website=website, name=data.get("name", ""), steps=data.get("steps", [])
        )
    except ValidationError as exc:
        raise _validation_error(exc) from None
    return JsonResponse(_funnel_json(funnel_list(website).get(pk=funnel.pk)), status=201)


def _funnel_delete(request: HttpRequest, user: User, site: str, funnel_id: str) -> HttpResponse:
    website = _website(request, user, site)
    pk = _id(funnel_id)
    funnel = Funnel.objects.filter(website=website, pk=pk).first() if pk else None
    if funnel is None:
        raise ApiError(404, "no such funnel")
    funnel_delete(funnel=funnel)
    return HttpResponse(status=204)


# --- share links ----------------------------------------------------------------------

_LINK_FIELDS: dict[str, type] = {"label": str, "password": str, "embed_hosts": list}


def _link_json(link: ShareLink) -> Json:
    return {
        "id": link.pk,
        "label": link.label,
        "password_protected": bool(link.password),
        "embed_hosts": link.hosts,
        "created_at": link.created_at.isoformat(),
    }


def _links_list(request: HttpRequest, user: User, site: str) -> HttpResponse:
    # A link's label says who it was made for: settings, like the sharing page (admins).
    website = _website(request, user, site, need=Role.ADMIN)
    links = [_link_json(link) for link in share_link_list(website=website)]
    return JsonResponse({"site": site, "share_links": links})


def _link_create(request: HttpRequest, user: User, site: str) -> HttpResponse:
    website = _website(request, user, site)
    data = _body(request, _LINK_FIELDS)
    form = ShareLinkForm({**data, "embed_hosts": "\n".join(data.get("embed_hosts", []))})
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        raise _field_error(field, str(errors[0]))
    try:
        created = share_link_create(website=website, **form.cleaned_data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    # Reversed by name: the share views are dashboard's, beside this app.
    url = public_base_url(request) + reverse("dashboard:share", args=[created.token])
    return JsonResponse({**_link_json(created.link), "url": url}, status=201)


def _link_revoke(request: HttpRequest, user: User, site: str, link_id: str) -> HttpResponse:
    website = _website(request, user, site)
    pk = _id(link_id)
    link = share_link_get_for_website(website=website, link_id=pk) if pk else None
    if link is None:
        raise ApiError(404, "no such share link")
    share_link_revoke(link=link)
    return HttpResponse(status=204)


# --- members and invitations ---------------------------------------------------------------

_INVITATION_FIELDS: dict[str, type] = {"email": str, "role": str}


def _member_json(member: Membership) -> Json:
    return {
        "id": member.pk,
        "email": member.user.email,
        "role": member.role,
        "joined_at": member.created_at.isoformat(),
    }


def _invitation_json(invitation: Invitation) -> Json:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role,
        "created_at": invitation.created_at.isoformat(),
        "expires_at": invitation.expires_at.isoformat(),
    }


def _admin_of(request: HttpRequest, user: User, site: str) -> Membership:
    website = _website(request, user, site, need=Role.ADMIN)
    member = membership_get(user, website.team_id)
    assert member is not None  # _website found the user in the team
    return member


def _members_list(request: HttpRequest, user: User, site: str) -> HttpResponse:
    me = _admin_of(request, user, site)
    return JsonResponse(
        {
            "site": site,
            "team": {"id": me.team_id, "name": me.team.name},
            "members": [_member_json(m) for m in member_list(me.team)],
            "invitations": [_invitation_json(i) for i in invitation_list_pending(me.team)],
        }
    )


def _invitation_create(request: HttpRequest, user: User, site: str) -> HttpResponse:
    me = _admin_of(request, user, site)
    data = _body(request, _INVITATION_FIELDS)
    for field in _INVITATION_FIELDS:
        if field not in data:
            raise _field_error(field, "This field is required.")
    base: str = settings.BASE_URL

    def accept_url(token: str) -> str:
        path = reverse("teams:invitation", args=[token])
        return base + path if base else request.build_absolute_uri(path)

    try:
        invitation = invitation_invite(
            actor=me, email=data["email"], role=data["role"], accept_url=accept_url
        )
    except TeamError as exc:
        error = _field_error(exc.field, exc.message) if exc.field else ApiError(409, exc.message)
        raise error from None
    return JsonResponse(_invitation_json(invitation), status=201)


def _invitation_revoke(
    request: HttpRequest, user: User, site: str, invitation_id: str
) -> HttpResponse:
    me = _admin_of(request, user, site)
    pk = _id(invitation_id)
    invitation = invitation_list_pending(me.team).filter(pk=pk).first() if pk else None
    if invitation is None:
        raise ApiError(404, "no such invitation")
    invitation_revoke(actor=me, invitation=invitation)
    return HttpResponse(status=204)


sites = _endpoint(GET=_sites_list, POST=_site_create)
site = _endpoint(GET=_site_get, PATCH=_site_update, DELETE=_site_delete)
goals = _endpoint(GET=_goals_list, POST=_goal_create)
goal = _endpoint(DELETE=_goal_delete)
funnels = _endpoint(GET=_funnels_list, POST=_funnel_create)
funnel = _endpoint(DELETE=_funnel_delete)
share_links = _endpoint(GET=_links_list, POST=_link_create)
share_link = _endpoint(DELETE=_link_revoke)
members = _endpoint(GET=_members_list, POST=_invitation_create)
invitation = _endpoint(DELETE=_invitation_revoke)
