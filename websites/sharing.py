"""Share links: create, list, revoke, and find the link a public URL names.

A link's token is ``HMAC(SECRET_KEY, nonce)``: the database holds the nonce and the token's
SHA-256, so the owner's page can show the URL again while a copy of the database alone
cannot open a link. Requests look links up by the hash, which needs no key, so a link keeps
working after ``SECRET_KEY`` is rotated (its old key then in ``SECRET_KEY_FALLBACKS`` lets
the owner's page show it). The dashboard views are ``dashboard.share``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from teams.models import Membership, Role
from websites.models import ShareLink, Website

MAX_LINKS_PER_WEBSITE = 50
MAX_EMBED_HOSTS = 20
MAX_LABEL_CHARS = 100
# secrets.token_urlsafe(32) and an HMAC-SHA256 in base64url without padding: 43 characters.
TOKEN_CHARS = 43
_KEY_SALT = "websites.sharing.token"
_HOST_SEPARATORS = re.compile(r"[\s,]+")
# A CSP host-source: optional http(s) scheme, a hostname or ``*.`` wildcard, optional port.
# Nothing else passes, so an entry cannot add a directive to the header.
_EMBED_HOST = re.compile(
    r"(?:(?P<scheme>https?)://)?"
    r"(?P<host>(?:\*\.)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}))?/?"
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _derive(nonce: str, secret: str | bytes) -> str:
    digest = salted_hmac(_KEY_SALT, nonce, secret=secret, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def share_link_token(link: ShareLink) -> str | None:
    """The link's token, or None when no key this server knows made it (``SECRET_KEY``
    changed without the old one in ``SECRET_KEY_FALLBACKS``): the link still works."""
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        token = _derive(link.nonce, secret)
        if constant_time_compare(hash_token(token), link.token_hash):
            return token
    return None


def normalise_embed_hosts(value: str) -> str:
    """Hosts as typed (lines, spaces or commas) -> CSP ``frame-ancestors`` sources one a
    line: ``https://example.com``, ``example.com`` (its page's scheme), ``*.example.com``,
    ``http://localhost:8080``. Raises ValidationError naming a bad entry."""
    entries: list[str] = []
    for raw in _HOST_SEPARATORS.split(value.strip()):
        if not raw:
            continue
        entry = _embed_host(raw)
        if entry not in entries:
            entries.append(entry)
        if len(entries) > MAX_EMBED_HOSTS:
            raise ValidationError(
                f"List at most {MAX_EMBED_HOSTS} hosts (*.example.com covers subdomains).",
                code="too_many_hosts",
            )
    return "\n".join(entries)


def _embed_host(raw: str) -> str:
    lowered = raw.lower()
    try:  # an internationalised name in its ASCII form, as browsers compare it
        lowered = "".join(
            part.encode("idna").decode() if not part.isascii() else part
            for part in re.split(r"([.:/])", lowered)
        )
    except UnicodeError:
        pass
    match = _EMBED_HOST.fullmatch(lowered)
    port = match and match["port"]
    if match is None or (port and not 0 < int(port) < 65536):
        shown = raw if len(raw) <= 60 else raw[:57] + "…"
        raise ValidationError(
            f"Not a host: {shown}. Enter hosts like blog.example.com, "
            "https://*.example.com or http://localhost:8080.",
            code="invalid_host",
        )
    scheme = f"{match['scheme']}://" if match["scheme"] else ""
    return f"{scheme}{match['host']}{':' + port if port else ''}"


@dataclass(frozen=True)
class CreatedLink:
    link: ShareLink
    token: str


def share_link_create(
    *, website: Website, label: str, password: str = "", embed_hosts: str = ""
) -> CreatedLink:
    """A new link to ``website``'s dashboard; ``password`` "" for none, ``embed_hosts`` as
    typed. Raises ValidationError for a bad host, an empty label or too many links."""
    label = label.strip()[:MAX_LABEL_CHARS]
    if not label:
        raise ValidationError("Give the link a label, e.g. who it is for.", code="no_label")
    hosts = normalise_embed_hosts(embed_hosts)
    if share_link_list(website=website).count() >= MAX_LINKS_PER_WEBSITE:
        raise ValidationError(
            f"A website has at most {MAX_LINKS_PER_WEBSITE} share links: revoke one first.",
            code="too_many_links",
        )
    nonce = secrets.token_urlsafe(32)
    token = _derive(nonce, settings.SECRET_KEY)
    link = ShareLink.objects.create(
        website=website,
        label=label,
        nonce=nonce,
        token_hash=hash_token(token),
        password=make_password(password) if password else "",
        embed_hosts=hosts,
    )
    return CreatedLink(link, token)


def share_link_list(*, website: Website) -> QuerySet[ShareLink]:
    """The website's links that were not revoked, newest first."""
    return ShareLink.objects.filter(website=website, revoked_at__isnull=True)


def share_link_revoke(*, link: ShareLink) -> None:
    """Revoke the link for good: its URL answers 404 from the next request on."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])


def share_link_get_for_website(*, website: Website, link_id: int) -> ShareLink | None:
    return share_link_list(website=website).filter(pk=link_id).first()


def share_link_get_by_token(token: str) -> ShareLink | None:
    """The live link this token opens (with its website), or None: unknown, revoked, or
    no owner of the website's team has an active account (a suspended team shares nothing)."""
    if len(token) != TOKEN_CHARS:
        return None
    active_owner = Membership.objects.filter(
        team_id=OuterRef("website__team_id"), role=Role.OWNER, user__is_active=True
    )
    return (
        ShareLink.objects.select_related("website")
        .filter(token_hash=hash_token(token), revoked_at__isnull=True)
        .filter(Exists(active_owner))
        .first()
    )


def share_link_check_password(link: ShareLink, password: str) -> bool:
    return bool(link.password) and check_password(password, link.password)


def share_link_unlock_value(link: ShareLink) -> str:
    """What a session keeps once the password was right: bound to this password hash, so
    a new password would lock the link again."""
    return salted_hmac(_KEY_SALT + ".unlock", link.password).hexdigest()[:32]
