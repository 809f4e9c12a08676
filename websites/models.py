"""A tracked website: the team that owns it, its public tracking id, its time zone, the hosts whose
pages may send its events and the addresses and paths whose events it excludes."""

from __future__ import annotations

import secrets
import string
import zoneinfo

from django.conf import settings
from django.db import models

from teams.models import Role, Team

_ID_ALPHABET = string.ascii_letters + string.digits


def new_tracking_id() -> str:
    # 12 letters and digits (71 random bits): short enough for a snippet, unguessable, and
    # safe on a command line (token_urlsafe's ids could start with "-": `--site -x...`).
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


class Website(models.Model):
    # Who may see and change it: the team's members, by role (``websites.selectors``).
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="websites")
    # Who added it ("created by"); never consulted for access, kept when they leave.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="websites",
    )
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253)
    tracking_id = models.CharField(max_length=32, unique=True, default=new_tracking_id)
    timezone = models.CharField(max_length=64, default="UTC")
    is_active = models.BooleanField(default=True)
    # Hosts besides the domain and its subdomains whose pages may send events: normalised
    # entries one a line (``websites.services.normalise_allowed_hostnames``); empty = none.
    allowed_hostnames = models.TextField(blank=True, default="")
    # The team's exclusions, normalised entries one a line (``websites.services``): events
    # from these addresses or ranges, or on paths matching these patterns, are not stored.
    excluded_ips = models.TextField(blank=True, default="")
    excluded_paths = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the refresh job (not the ingest hot path) once the first event is stored.
    first_event_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    # The requesting user's role in the website's team, set by the selectors that check
    # it ("" when loaded otherwise): templates show settings links by it.
    role: str = ""

    def __str__(self) -> str:
        return f"{self.name} ({self.domain})"

    @property
    def can_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class ShareLink(models.Model):
    """A read-only dashboard of one website at an unguessable URL (``websites.sharing``).

    The URL's token is derived from ``nonce`` with the server's secret key, so the owner can
    copy it again, while a copy of the database alone cannot open a link; requests find the
    link by ``token_hash``, which needs no key.
    """

    website = models.ForeignKey(Website, on_delete=models.CASCADE, related_name="share_links")
    label = models.CharField(max_length=100)
    nonce = models.CharField(max_length=64, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    # A Django password hash; "" when the link needs none.
    password = models.CharField(max_length=128, blank=True, default="")
    # CSP frame-ancestors sources, one a line (``sharing.normalise_embed_hosts``); "" = none.
    embed_hosts = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.website.domain})"

    @property
    def hosts(self) -> list[str]:
        return self.embed_hosts.split()
