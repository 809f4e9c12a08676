"""The ingest pipeline: an ordered list of named steps turning a validated payload into an
``IncomingEvent`` ready to be written, or a ``DropReason``.

Each ``drop_*`` step may reject the event (it is answered 2xx and counted, never stored);
each ``add_*`` step enriches it. The session rules (``tracking.sessions``) need the
visitor's stored sessions: ``writer.write_events`` applies them inside the transaction
that stores the event, and counts their drops with these.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

from core.geo import locator
from core.referrers import clean_host, host_to_source, is_referrer_spam, referrer_host
from core.ua import parse_agent
from tracking.identity import visitor_ids
from tracking.models import DropReason
from tracking.payload import Payload
from websites.selectors import TrackedSite

_UTM_MAX = 255
# utm_source wins; `source` and `ref` are accepted aliases, in that order.
_SOURCE_KEYS = ("utm_source", "source", "ref")


@dataclass(slots=True)
class IncomingEvent:
    """One accepted event with everything the writer needs; the IP and UA are not kept."""

    website_id: int
    type: str
    at: dt.datetime
    path: str = "/"
    screen: int | None = None
    engaged_ms: int | None = None
    scroll_pct: int | None = None
    referrer_host: str = ""
    source: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_content: str = ""
    utm_term: str = ""
    channel: str = ""
    screen_size: str = ""
    country: str = ""
    region: str = ""
    city: str = ""
    language: str = ""
    browser: str = ""
    os: str = ""
    device: str = "desktop"
    visitor_id: int = 0
    previous_visitor_id: int = 0
    # Hash of (website, the client's event id); None when the client sent no id.
    dedup_key: int | None = None
    # Custom events (type EVENT) only: the trimmed name and the props as text values.
    name: str | None = None
    props: dict[str, str] | None = None
    # The report as the session rules attribute it (``sessions.report``): None when it
    # reports on no stored page view, else whether it is the view's first report, the
    # depth it adds, and the view's path when not ``path``.
    engaged_view: bool | None = None
    scroll_add: int | None = None
    engaged_path: str | None = None


@dataclass(slots=True)
class Context:
    """What the steps read: the payload and the request facts that are never stored."""

    payload: Payload
    site: TrackedSite
    ip: str
    user_agent: str
    at: dt.datetime
    do_not_track: bool = False
    # The request's Origin header, "" without one (imports, most non-browser clients).
    origin: str = ""
    # The request's Accept-Language header ("" without one).
    accept_language: str = ""
    referrer_host: str = ""
    event: IncomingEvent = field(init=False)


Step = Callable[[Context], DropReason | None]


def drop_do_not_track(ctx: Context) -> DropReason | None:
    """The request carried ``DNT: 1`` or ``Sec-GPC: 1`` and ``HONOR_DNT`` is on (decided by
    the caller, which sees the headers)."""
    return DropReason.DO_NOT_TRACK if ctx.do_not_track else None


def drop_foreign_host(ctx: Context) -> DropReason | None:
    """The page (the host of the event's ``url``) is on a host the website does not allow
    (``TrackedSite.allows_host``), or so is the ``Origin`` a browser sent.

    Both are what the client says: this keeps copied snippets and other sites' pages out,
    not a hand-made request (docs/SECURITY.md). ``Origin: null`` (a sandboxed frame, a
    beacon from a page with ``Referrer-Policy: no-referrer``) names no host: not checked.
    """
    site = ctx.site
    if not site.allows_host(ctx.payload.host):
        return DropReason.FOREIGN_HOST
    if ctx.origin and ctx.origin != "null" and not site.allows_host(_host_of(ctx.origin)):
        return DropReason.FOREIGN_HOST
    return None


@functools.lru_cache(maxsize=1024)  # a website's events come from a few origins
def _host_of(origin: str) -> str:
    try:
        return urlsplit(origin).hostname or ""
    except ValueError:  # a malformed port or IPv6 address: no browser sends one
        return ""


def drop_bots(ctx: Context) -> DropReason | None:
    return DropReason.BOT if parse_agent(ctx.user_agent).is_bot else None


def drop_referrer_spam(ctx: Context) -> DropReason | None:
    """A referrer on the spam list (``core/referrer_spam.txt``, subdomains included)."""
    ctx.referrer_host = referrer_host(ctx.payload.referrer)
    return DropReason.REFERRER_SPAM if is_referrer_spam(ctx.referrer_host) else None


def add_dedup_key(ctx: Context) -> DropReason | None:
    """A signed 64-bit hash of (website, client event id), or None without an id.

    The writer stores it with the event under a unique index and drops an event whose key
    is already stored (a retried beacon). The website is hashed in so ids only meet within
    one website; the visitor is not, so a retry from a new IP (a phone switching networks)
    is still recognised.
    """
    if ctx.payload.id:
        digest = hashlib.blake2b(
            f"{ctx.site.id}\x1f{ctx.payload.id}".encode(), digest_size=8
        ).digest()
        ctx.event.dedup_key = int.from_bytes(digest, "big", signed=True)
    return None


def add_page(ctx: Context) -> DropReason | None:
    """Path without query string or fragment; UTM values from the landing URL's query."""
    url = ctx.payload.parsed_url
    ev = ctx.event
    ev.path = url.path or "/"
    if url.query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(url.query, keep_blank_values=False):
            params.setdefault(key.lower(), value.strip())
        ev.utm_source = next((params[k] for k in _SOURCE_KEYS if params.get(k)), "")[:_UTM_MAX]
        ev.utm_medium = params.get("utm_medium", "")[:_UTM_MAX]
        ev.utm_campaign = params.get("utm_campaign", "")[:_UTM_MAX]
        ev.utm_content = params.get("utm_content", "")[:_UTM_MAX]
        ev.utm_term = params.get("utm_term", "")[:_UTM_MAX]
    return None


def drop_excluded(ctx: Context) -> DropReason | None:
    """The website's settings exclude the client's address or the page's path."""
    reason = ctx.site.excluded(ctx.ip, ctx.event.path)
    if reason is None:
        return None
    return DropReason.EXCLUDED_IP if reason == DropReason.EXCLUDED_IP else DropReason.EXCLUDED_PATH


def add_referrer_source(ctx: Context) -> DropReason | None:
    """Source = the tagged utm_source when present, else the referrer's (named) host.

    Referrers from the page's own host or the website's domain are internal and ignored.
    """
    ev = ctx.event
    host = ctx.referrer_host
    page_host = clean_host(ctx.payload.host)
    site_host = clean_host(ctx.site.domain)
    if host and host not in (page_host, site_host) and not host.endswith("." + site_host):
        ev.referrer_host = host
    ev.source = ev.utm_source or (host_to_source(ev.referrer_host) if ev.referrer_host else "")
    return None


def add_user_agent(ctx: Context) -> DropReason | None:
    agent = parse_agent(ctx.user_agent)
    ev = ctx.event
    ev.browser, ev.os, ev.device = agent.browser, agent.os, agent.device
    return None


def add_place(ctx: Context) -> DropReason | None:
    """Country (and, with a City database, region and city) of the client's address; the
    address itself is never stored."""
    ev = ctx.event
    ev.country, ev.region, ev.city = locator(settings.GEOIP_DATABASE).locate(ctx.ip)
    return None


def add_language(ctx: Context) -> DropReason | None:
    ctx.event.language = primary_language(ctx.accept_language)
    return None


def add_screen_size(ctx: Context) -> DropReason | None:
    ctx.event.screen_size = screen_size(ctx.event.screen)
    return None


@functools.lru_cache(maxsize=4096)  # browsers send a handful of distinct headers
def primary_language(header: str) -> str:
    """The primary subtag of the most preferred language range: "de-CH,de;q=0.9" -> "de";
    "" for none, "*" or anything that is not 2-3 letters."""
    best, best_q = "", 0.0
    for part in header.split(",", 8)[:8]:
        tag, _, params = part.partition(";")
        primary = tag.strip().split("-", 1)[0].lower()
        if not (2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha()):
            continue
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > best_q:
            best, best_q = primary, q
    return best


# Screen width (CSS pixels) below which each class starts the next; as Plausible does.
_SCREEN_CLASSES = ((576, "mobile"), (992, "tablet"), (1440, "laptop"))


def screen_size(width: int | None) -> str:
    if width is None:
        return ""
    for below, name in _SCREEN_CLASSES:
        if width < below:
            return name
    return "desktop"


def add_visitor(ctx: Context) -> DropReason | None:
    local_day = ctx.at.astimezone(ctx.site.tz).date()
    ctx.event.visitor_id, ctx.event.previous_visitor_id = visitor_ids(
        ctx.site.id, local_day, ctx.ip, ctx.user_agent
    )
    return None


STEPS: tuple[Step, ...] = (
    drop_do_not_track,
    drop_foreign_host,
    drop_bots,
    drop_referrer_spam,
    add_page,
    drop_excluded,
    add_referrer_source,
    add_user_agent,
    add_place,
    add_language,
    add_screen_size,
    add_visitor,
    add_dedup_key,
)


def run(
    payload: Payload,
    *,
    site: TrackedSite,
    ip: str,
    user_agent: str,
    at: dt.datetime,
    do_not_track: bool = False,
    origin: str = "",
    accept_language: str = "",
) -> IncomingEvent | DropReason:
    """Run every step in order; the first ``DropReason`` ends the pipeline.

    ``at`` is the event time (aware, UTC): the server clock for live events, the file's
    ``ts`` for imports. ``do_not_track``: the visitor asked not to be tracked and the
    operator honours it; the event is dropped. ``origin``: the request's ``Origin`` header
    ("" without one); it must name an allowed host too (``drop_foreign_host``). Later drops
    are decided by the session rules (``DUPLICATE``, ``EXIT_WITHOUT_SESSION``,
    ``RATE_LIMITED``; ``tracking.sessions``).
    """
    # Some servers and proxies pass a NUL in a header, and import files may hold lone
    # surrogates: PostgreSQL can store neither, and the parsed browser and OS names come
    # from this string. Dropping them makes both databases answer alike.
    if "\x00" in user_agent or not user_agent.isascii():
        user_agent = user_agent.replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")
    ctx = Context(
        payload=payload,
        site=site,
        ip=ip,
        user_agent=user_agent,
        at=at,
        do_not_track=do_not_track,
        origin=origin,
        accept_language=accept_language,
    )
    ctx.event = IncomingEvent(
        website_id=site.id,
        type=payload.type,
        at=at,
        screen=payload.screen,
        engaged_ms=payload.engaged_ms,
        scroll_pct=payload.scroll_pct,
        name=payload.name,
        props=payload.props,
    )
    for step in STEPS:
        reason = step(ctx)
        if reason is not None:
            return reason
    return ctx.event
