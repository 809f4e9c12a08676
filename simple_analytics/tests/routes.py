"""Every URL pattern of the project, walked from the resolver, and how to fill its parameters.

``all_routes()`` goes recursively through every ``include()``, so a route added anywhere
shows up in the security tests without anyone listing it. ``Route.url(values)`` fills the
pattern's parameters (route converters and regex groups alike) and checks the result
resolves back to the same pattern. ``FILLS`` says how to fill each parameter from a
``World`` (an owner with data, an admin and a viewer of the owner's team, another user, API
keys), ``PUBLIC`` lists the routes anyone may use, ``category`` sorts every route into
public / login / owned / api / admin, and ``role_needed`` says which role of the owner's team
an owned route needs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern
from django.utils.http import int_to_base36
from django.views.generic import RedirectView

from api.models import ApiKey, Scope
from api.openapi import document as openapi_document
from dashboard.models import Segment as SavedSegment
from goals.models import Funnel, Goal, GoalKind
from goals.services import funnel_create, goal_create
from simple_analytics.testing import make_user, make_website, record_events
from teams.models import Invitation, Membership, Role, Team
from teams.services import invitation_create, invitation_revoke, team_personal_get
from websites.models import ShareLink, Website
from websites.sharing import share_link_create, share_link_revoke

_CONVERTER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
_GROUP_START = re.compile(r"\(\?P<(?P<name>\w+)>")


@dataclass(frozen=True)
class Segment:
    text: str
    is_regex: bool


@dataclass(frozen=True)
class Route:
    """One URL pattern: its namespaced name (``None`` for a few admin redirects) and path."""

    name: str | None
    namespace: str
    segments: tuple[Segment, ...]
    callback: object

    @property
    def pattern(self) -> str:
        return "".join(s.text for s in self.segments)

    @property
    def id(self) -> str:
        """A readable, unique test id."""
        return f"{self.name or '-'} {self.pattern or '/'}"

    @property
    def kwargs(self) -> list[str]:
        names: list[str] = []
        for seg in self.segments:
            if seg.is_regex:
                names += [m["name"] for m in _GROUP_START.finditer(seg.text)]
            else:
                names += [m["name"] for m in _CONVERTER.finditer(seg.text)]
        return names

    @property
    def int_kwargs(self) -> list[str]:
        """The parameters of ``<int:...>`` converters."""
        return [
            m["name"]
            for seg in self.segments
            if not seg.is_regex
            for m in _CONVERTER.finditer(seg.text)
            if m["converter"] == "int"
        ]

    def url(self, values: Mapping[str, str], *, resolves: bool = True) -> str:
        """The path with ``values`` in its parameters (each value is percent-quoted);
        ``resolves=False`` for values the pattern is meant to refuse."""
        parts = []
        for seg in self.segments:
            if seg.is_regex:
                parts.append(_fill_regex(seg.text, values))
            else:
                parts.append(_CONVERTER.sub(lambda m: quote(values[m["name"]], safe=""), seg.text))
        url = "/" + "".join(parts)
        if not resolves:
            return url
        match = resolve(url)
        assert match.func is self.callback, f"{url} resolves to {match.view_name}, not {self.id}"
        return url


def _fill_regex(text: str, values: Mapping[str, str]) -> str:
    """``^confirm-email/(?P<key>[-:\\w]+)/$`` -> ``confirm-email/<key>/`` (simple patterns)."""
    out, i = [], 0
    for m in _GROUP_START.finditer(text):
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while depth:  # skip to the group's closing parenthesis
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1 if text[j] != "\\" else 2
        out.append(quote(values[m["name"]], safe=""))
        i = j
    out.append(text[i:])
    plain = "".join(out).removeprefix("^").removesuffix("$")
    assert not re.search(r"[\\()\[\]^$*+?|]", plain), f"cannot fill the regex {text!r}"
    return plain


def _segment(pattern: object) -> Segment:
    if isinstance(pattern, RoutePattern):
        return Segment(str(pattern), is_regex=False)
    if isinstance(pattern, RegexPattern):
        return Segment(pattern.regex.pattern, is_regex=True)
    raise AssertionError(f"unknown pattern type {type(pattern).__name__}")


def _walk(
    resolver: URLResolver, segments: tuple[Segment, ...], namespaces: tuple[str, ...]
) -> Iterator[Route]:
    for entry in resolver.url_patterns:
        here = (*segments, _segment(entry.pattern))
        if isinstance(entry, URLResolver):
            ns = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry, here, ns)
        elif isinstance(entry, URLPattern):
            name = ":".join((*namespaces, entry.name)) if entry.name else None
            yield Route(name, ":".join(namespaces), here, entry.callback)


def all_routes(urlconf: str | None = None) -> list[Route]:
    root = get_resolver(urlconf)
    return list(_walk(root, (), ()))


# --- the cast ---------------------------------------------------------------------------

# Names used in the owner's data, which must never show up in another user's pages.
OWNER_EMAIL = "owner-9f2c@example.com"
OWNER_SITE_NAME = "Owner secret shop 9f2c"
OWNER_KEY_NAME = "owner secret key 9f2c"
OWNER_GOAL_NAME = "Owner secret goal 9f2c"
OWNER_FUNNEL_NAME = "Owner secret funnel 9f2c"
OWNER_SEGMENT_NAME = "Owner secret segment 9f2c"
SECRETS = (
    OWNER_EMAIL,
    OWNER_SITE_NAME,
    OWNER_KEY_NAME,
    OWNER_GOAL_NAME,
    OWNER_FUNNEL_NAME,
    OWNER_SEGMENT_NAME,
    "owner-9f2c.example",
)


@dataclass
class World:
    owner: Any
    other: Any
    website: Website
    other_website: Website
    owner_key: ApiKey
    owner_plain_key: str
    other_plain_key: str
    revoked_plain_key: str
    goal: Goal
    funnel: Funnel
    segment: SavedSegment
    # Share links: the owner's (password protected), one revoked, and the other user's.
    share_link: ShareLink | None = None
    share_token: str = ""
    share_password: str = "share-password-9f2c"
    revoked_share_token: str = ""
    other_share_token: str = ""
    # Read-write keys (the keys above are read-only) for the sites API.
    owner_write_key: str = ""
    other_write_key: str = ""
    # Members of the owner's team (its personal one) besides the owner, with read-write keys.
    admin: Any = None
    viewer: Any = None
    admin_write_key: str = ""
    viewer_write_key: str = ""
    viewer_membership: Membership | None = None
    # A pending invitation to the owner's team, and the token of a revoked one.
    invitation: Invitation | None = None
    revoked_invitation_token: str = ""


def make_world() -> World:
    """An owner with a website, traffic, goals, a funnel and API keys (one revoked); another
    user with theirs."""
    owner = make_user(OWNER_EMAIL)
    EmailAddress.objects.create(user=owner, email=OWNER_EMAIL, verified=True, primary=True)
    website = make_website(owner=owner, domain="owner-9f2c.example")
    Website.objects.filter(pk=website.pk).update(name=OWNER_SITE_NAME)
    website.refresh_from_db()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    url = "https://owner-9f2c.example"
    record_events(
        website,
        [
            {"type": "PAGE_VIEW", "url": f"{url}/?utm_source=news", "at": now},
            {"type": "PATH_CHANGE", "url": f"{url}/pricing", "at": now},
            {"type": "PAGE_VIEW", "url": f"{url}/", "at": now, "ip": "198.51.100.9"},
        ],
    )
    goal = goal_create(
        website=website, kind=GoalKind.EVENT, event_name="Signup", name=OWNER_GOAL_NAME
    )
    goal_create(website=website, kind=GoalKind.PAGE, page_pattern="/pricing")
    funnel = funnel_create(
        website=website, name=OWNER_FUNNEL_NAME, steps=["Visit /pricing", goal.name]
    )
    segment = SavedSegment.objects.create(
        website=website, name=OWNER_SEGMENT_NAME, query="utm_source=news"
    )
    owner_key, owner_plain = ApiKey.issue(user=owner, name=OWNER_KEY_NAME)
    revoked, revoked_plain = ApiKey.issue(user=owner, name="revoked")
    ApiKey.objects.filter(pk=revoked.pk).update(revoked_at=dt.datetime.now(dt.UTC))

    other = make_user("other@example.com")
    # As sign-up makes it (allauth's e-mail page would otherwise create it on first view).
    EmailAddress.objects.create(user=other, email=other.email, verified=True, primary=True)
    other_website = make_website(owner=other, domain="other.example")
    _, other_plain = ApiKey.issue(user=other, name="other key")
    world = World(
        owner,
        other,
        website,
        other_website,
        owner_key,
        owner_plain,
        other_plain,
        revoked_plain,
        goal,
        funnel,
        segment,
    )
    shared = share_link_create(website=website, label="owner", password=world.share_password)
    world.share_link, world.share_token = shared.link, shared.token
    revoked_share = share_link_create(website=website, label="revoked")
    share_link_revoke(link=revoked_share.link)
    world.revoked_share_token = revoked_share.token
    world.other_share_token = share_link_create(website=other_website, label="other").token
    world.owner_write_key = ApiKey.issue(user=owner, name="write", scope=Scope.READ_WRITE)[1]
    world.other_write_key = ApiKey.issue(user=other, name="write", scope=Scope.READ_WRITE)[1]

    team = team_personal_get(owner)
    for role in (Role.ADMIN, Role.VIEWER):
        member = make_user(f"{role}-member@example.com")
        EmailAddress.objects.create(user=member, email=member.email, verified=True, primary=True)
        membership = Membership.objects.create(team=team, user=member, role=role)
        key = ApiKey.issue(user=member, name="write", scope=Scope.READ_WRITE)[1]
        if role == Role.ADMIN:
            world.admin, world.admin_write_key = member, key
        else:
            world.viewer, world.viewer_write_key = member, key
            world.viewer_membership = membership
    actor = Membership.objects.get(team=team, user=owner)
    world.invitation = invitation_create(
        actor=actor, email="invited-9f2c@example.com", role=Role.VIEWER
    ).invitation
    revoked_invitation = invitation_create(actor=actor, email="gone@example.com", role=Role.ADMIN)
    invitation_revoke(actor=actor, invitation=revoked_invitation.invitation)
    world.revoked_invitation_token = revoked_invitation.token
    return world


# --- how to fill each parameter ---------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """How to fill one URL parameter.

    ``owned``: it names an object of the owner; anyone else must get the 404 of an object
    that does not exist. ``object``: it names a stored object whose access is guarded by
    other means (staff only, a secret token); answers must still not depend on whether the
    object exists. ``value``: a plain value.
    """

    kind: str  # "owned" | "object" | "value"
    real: Callable[[World], str]
    missing: Callable[[World], str] | None = None


def _missing_pk(model: Any) -> Callable[[World], str]:
    return lambda w: str(
        (model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 10_000
    )


_USER_PK = Fill("object", lambda w: str(w.owner.pk), _missing_pk(get_user_model()))

# (URL namespace, parameter name) -> Fill. A route whose parameter is not here fails
# test_every_route_is_classified_and_fillable: add it, deciding whose object it names.
FILLS: dict[tuple[str, str], Fill] = {
    ("websites", "pk"): Fill("owned", lambda w: str(w.website.pk), _missing_pk(Website)),
    ("dashboard", "pk"): Fill("owned", lambda w: str(w.website.pk), _missing_pk(Website)),
    ("api", "pk"): Fill("owned", lambda w: str(w.owner_key.pk), _missing_pk(ApiKey)),
    ("goals", "pk"): Fill("owned", lambda w: str(w.website.pk), _missing_pk(Website)),
    ("goals", "goal_pk"): Fill("owned", lambda w: str(w.goal.pk), _missing_pk(Goal)),
    ("goals", "funnel_pk"): Fill("owned", lambda w: str(w.funnel.pk), _missing_pk(Funnel)),
    ("dashboard", "segment_pk"): Fill(
        "owned", lambda w: str(w.segment.pk), _missing_pk(SavedSegment)
    ),
    ("reports", "pk"): Fill("owned", lambda w: str(w.website.pk), _missing_pk(Website)),
    # An unsubscribe link's secret: a wrong one (a real one would unsubscribe on POST).
    ("reports", "token"): Fill("value", lambda w: "not-a-token"),
    ("websites", "link_pk"): Fill(
        "owned", lambda w: str(w.share_link.pk if w.share_link else 0), _missing_pk(ShareLink)
    ),
    # A share link's token: the matrix tries a revoked one, which must answer exactly like
    # a token that never existed (test_share_links_open_their_own_website_only: live ones).
    ("dashboard", "token"): Fill(
        "object", lambda w: w.revoked_share_token, lambda w: "n0-such-share-token".ljust(43, "x")
    ),
    ("api", "dimension"): Fill("value", lambda w: "pages"),
    ("api", "site"): Fill("owned", lambda w: w.website.tracking_id, lambda w: "n0SuchSite00"),
    ("api", "goal_id"): Fill("owned", lambda w: str(w.goal.pk), _missing_pk(Goal)),
    ("api", "funnel_id"): Fill("owned", lambda w: str(w.funnel.pk), _missing_pk(Funnel)),
    ("api", "link_id"): Fill(
        "owned", lambda w: str(w.share_link.pk if w.share_link else 0), _missing_pk(ShareLink)
    ),
    ("dashboard", "breakdown"): Fill("value", lambda w: "pages"),
    ("teams", "pk"): Fill("owned", lambda w: str(w.website.team_id), _missing_pk(Team)),
    ("teams", "member_pk"): Fill(
        "owned",
        lambda w: str(w.viewer_membership.pk if w.viewer_membership else 0),
        _missing_pk(Membership),
    ),
    ("teams", "invitation_pk"): Fill(
        "owned", lambda w: str(w.invitation.pk if w.invitation else 0), _missing_pk(Invitation)
    ),
    # An invitation link's secret: a revoked one, which must answer exactly like a token that
    # never existed (teams/tests: live ones).
    ("teams", "token"): Fill(
        "object",
        lambda w: w.revoked_invitation_token,
        lambda w: "n0-such-invitation".ljust(43, "x"),
    ),
    ("api", "invitation_id"): Fill(
        "owned", lambda w: str(w.invitation.pk if w.invitation else 0), _missing_pk(Invitation)
    ),
    # allauth's e-mail confirmation and password reset links carry a secret token.
    ("", "key"): Fill("value", lambda w: "set-password"),
    ("", "uidb36"): Fill(
        "object",
        lambda w: int_to_base36(w.owner.pk),
        lambda w: int_to_base36(int(_missing_pk(get_user_model())(w))),
    ),
    # Single sign-on's provider (accounts.sso); unconfigured here, so its pages are 404s.
    ("", "provider_id"): Fill("value", lambda w: "sso"),
    # The admin: staff only; nobody in these tests is staff.
    ("admin", "object_id"): _USER_PK,
    ("admin", "id"): _USER_PK,
    ("admin", "content_type_id"): Fill(
        "value", lambda w: str(ContentType.objects.get_for_model(get_user_model()).pk)
    ),
    ("admin", "app_label"): Fill("value", lambda w: "auth"),
    ("admin", "url"): Fill("value", lambda w: "no-such-page"),
}

# Routes anyone may use, listed by hand: a new route is login-only until it is added here.
PUBLIC = {
    "collect",  # POST /api/event: the ingest endpoint
    "pixel",  # the tracking script
    "pixel_full",  # the tracking script with the optional automatic events
    "healthz",
    "api:openapi",
    "account_login",
    "account_signup",
    "account_logout",  # acts on the requester's own session only
    "account_inactive",
    "account_reset_password",
    "account_reset_password_done",
    "account_reset_password_from_key",
    "account_reset_password_from_key_done",
    "account_confirm_email",
    "account_email_verification_sent",
    "account_confirm_login_code",  # second step of a login in progress
    "mfa_authenticate",  # second step of a login in progress
    # Single sign-on: starting it, the provider's return, and its error pages.
    "openid_connect_login",
    "openid_connect_callback",
    "socialaccount_login_cancelled",
    "socialaccount_login_error",
    "socialaccount_signup",  # second step of a login in progress
    # A share link's read-only dashboard: the token (and its password) is the access.
    "dashboard:share",
    "dashboard:share_live",
    "dashboard:share_export",
    "dashboard:share_filter",
    "dashboard:share_details",
    "reports:unsubscribe",  # the link of an email report: its token is the secret
}
# Staff-only pages outside the admin's namespace, checked like the admin: nobody in these
# tests is staff, so they must be sent to the admin's login or refused.
STAFF_ONLY = {
    "status",  # /status/: operational status of the rollups and the job queue
}
# Read endpoints authenticated by API key (query parameter ``site``), not by session.
API_PREFIX = "api/v1/"
# The sites API: API key too, its objects in the path, writes with a read-write key.
SITES_API_PREFIX = "api/v1/sites"


def category(route: Route) -> str:
    """public | admin (staff only) | api (API key) | sites_api (API key, objects in the
    path) | owned (an owner's object) | login."""
    if route.name in PUBLIC:
        return "public"
    if route.namespace == "admin" or route.name in STAFF_ONLY:
        return "admin"
    if route.pattern.startswith(SITES_API_PREFIX):
        return "sites_api"
    # allauth's deprecated social/ aliases: a fixed redirect to a route checked on its own.
    if getattr(route.callback, "view_class", None) is RedirectView:
        return "public"
    if route.pattern.startswith(API_PREFIX):
        return "api"
    # A parameter the table does not know counts as owned (the strictest checks) until
    # FILLS says otherwise; test_every_route_is_classified_and_fillable names it.
    fills = [FILLS.get((route.namespace, k)) for k in route.kwargs]
    if any(fill is None or fill.kind == "owned" for fill in fills):
        return "owned"
    return "login"


# --- roles ---------------------------------------------------------------------------------

# Owned routes that need more than the viewer role in the website's (or the team's) team, for
# every method; every other owned route is open to viewers: dashboards, exports, their own
# email reports, the members list, leaving. A new settings route must be listed here.
ADMIN_ROUTES = {
    "websites:edit",
    "websites:exclusions",
    "websites:sharing",
    "websites:share_revoke",
    "websites:transfer",
    "websites:delete",
    "goals:index",
    "goals:goal_add",
    "goals:goal_delete",
    "goals:funnel_add",
    "goals:funnel_delete",
    "dashboard:snippet",
    # Saved segments are the website's, shared by the team: viewers apply them only.
    "dashboard:segment_save",
    "dashboard:segment_rename",
    "dashboard:segment_delete",
    "teams:invite",
    "teams:member_role",
    "teams:member_remove",
    "teams:invitation_revoke",
}
OWNER_ROUTES = {"teams:delete", "teams:transfer"}
# Owned by the user, not the team: the owner's teammates are outsiders there.
PER_USER_ROUTES = {"api:key_revoke"}


def role_needed(route: Route) -> str | None:
    """The least role of the owner's team that opens an owned route; None for a route of the
    owner's own account (``PER_USER_ROUTES``)."""
    if route.name in PER_USER_ROUTES:
        return None
    if route.name in OWNER_ROUTES:
        return Role.OWNER
    return Role.ADMIN if route.name in ADMIN_ROUTES else Role.VIEWER


def fills_for(route: Route) -> dict[str, Fill]:
    out = {}
    for name in route.kwargs:
        fill = FILLS.get((route.namespace, name))
        if fill is None:
            raise LookupError(
                f"{route.id}: no way to fill {name!r} (namespace {route.namespace!r})"
            )
        out[name] = fill
    return out


def urls(route: Route, world: World) -> tuple[str, str]:
    """The route's URL with the owner's real ids, and with ids that do not exist."""
    fills = fills_for(route)
    real = {k: f.real(world) for k, f in fills.items()}
    missing = {k: (f.missing or f.real)(world) for k, f in fills.items()}
    return route.url(real), route.url(missing)


# --- numeric query parameters -----------------------------------------------------------


def numeric_query_parameters() -> dict[str, str]:
    """Query parameters that hold a number or a date, by name: their schema type or
    format in the stats API's OpenAPI document. The dashboard and its export read the
    period (``from``, ``to``) through the same parser."""
    out: dict[str, str] = {}
    for item in openapi_document()["paths"].values():
        params = [p for operation in item.values() for p in operation.get("parameters", [])]
        for param in params:
            schema = param.get("schema", {})
            kind = schema.get("format") or schema.get("type")
            if param["in"] == "query" and kind in ("integer", "number", "date", "date-time"):
                out[param["name"]] = kind
    return out
