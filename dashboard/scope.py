"""Whose dashboard a page shows: the owner's (URLs by website id) or a share link's (URLs
under ``/share/<token>/``), so one set of views and templates serves both."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from websites.models import Website

# The share route of each dashboard route a share link opens (``dashboard.urls``).
_SHARED_NAMES = {"overview": "share"}


@dataclass(frozen=True)
class Scope:
    website: Website
    # The share link's token: every URL of the page then stays under its address, and
    # nothing links to settings, segments, the snippet or other websites.
    token: str | None = None

    @property
    def shared(self) -> bool:
        return self.token is not None

    def url(self, name: str, *args: object) -> str:
        """``dashboard:<name>`` of this website, or its share twin (``share_<name>``)."""
        if self.token is None:
            return reverse(f"dashboard:{name}", args=[self.website.pk, *args])
        shared = _SHARED_NAMES.get(name, f"share_{name}")
        return reverse(f"dashboard:{shared}", args=[self.token, *args])
