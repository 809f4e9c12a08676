"""Forms of the website pages: what users type, checked with the rules of ``services``."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from teams.models import Team
from websites.models import Website
from websites.services import (
    normalise_allowed_hostnames,
    normalise_domain,
    normalise_excluded_ips,
    normalise_excluded_paths,
    validate_timezone,
)
from websites.sharing import MAX_LABEL_CHARS, normalise_embed_hosts

_REGIONS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)
# In the IANA list but not a zone anyone would pick.
_HIDDEN_ZONES = {"Factory", "localtime"}


@functools.cache
def timezone_choices() -> list[tuple[str, object]]:
    """The IANA zones as grouped choices: UTC first, then by region, then the rest.

    Aliases (``Asia/Calcutta``, ``US/Eastern``) stay in the list: browsers may report
    them, and the page preselects the browser's zone.
    """
    zones = sorted(zoneinfo.available_timezones() - _HIDDEN_ZONES)
    groups: dict[str, list[tuple[str, str]]] = {region: [] for region in (*_REGIONS, "Other")}
    for zone in zones:
        if zone == "UTC":
            continue
        region = zone.split("/", 1)[0]
        groups[region if region in groups else "Other"].append((zone, zone.replace("_", " ")))
    return [("UTC", "UTC"), *((region, items) for region, items in groups.items() if items)]


class WebsiteForm(forms.Form):
    """Add or edit a website of ``team`` (``website`` when editing)."""

    domain = forms.CharField(
        label="Domain",
        max_length=2048,
        help_text=(
            "A bare domain like <code>example.com</code> or any URL of the site. For local "
            "testing: <code>localhost</code> or an IP address like <code>127.0.0.1</code>. "
            "A port is left out: pages on any port of the host count."
        ),
        widget=forms.TextInput(
            attrs={
                "placeholder": "example.com",
                "autocomplete": "off",
                "autocapitalize": "none",
                "spellcheck": "false",
                "inputmode": "url",
            }
        ),
    )
    name = forms.CharField(
        label="Name",
        max_length=Website._meta.get_field("name").max_length,
        required=False,
        help_text="Shown in your list of websites. Defaults to the domain.",
        widget=forms.TextInput(attrs={"placeholder": "My blog"}),
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=timezone_choices,
        initial="UTC",
        help_text="Reports count days from midnight in this time zone.",
    )
    # Only on the settings page: a new website starts with its domain and subdomains.
    allowed_hostnames = forms.CharField(
        label="Other hosts whose pages may send events",
        required=False,
        max_length=10_000,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "placeholder": "staging.example.com",
                "autocomplete": "off",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )

    def __init__(
        self, *args: Any, team: Team, website: Website | None = None, **kwargs: Any
    ) -> None:
        if website is not None:
            kwargs.setdefault(
                "initial",
                {
                    "domain": website.domain,
                    "name": website.name,
                    "timezone": website.timezone,
                    "allowed_hostnames": website.allowed_hostnames,
                },
            )
        super().__init__(*args, **kwargs)
        self.team = team
        self.website = website
        if website is None:
            del self.fields["allowed_hostnames"]
        else:
            self.fields["allowed_hostnames"].help_text = format_html(
                "Pages on {} and its subdomains always may. List others one a line: a "
                "staging host, another domain, <code>*.example.org</code> for a domain and "
                "its subdomains, <code>localhost</code> (and 127.0.0.1) for development, "
                "<code>*</code> for any host. Events from other hosts are not stored; the "
                "data-quality panel counts them.",
                website.domain,
            )
        if not self.is_bound and website is None:
            # The add page's script may replace UTC by the browser's zone.
            self.fields["timezone"].widget.attrs["data-detect-timezone"] = ""

    def clean_domain(self) -> str:
        try:
            domain = normalise_domain(self.cleaned_data["domain"])
        except ValidationError:
            raise ValidationError(
                "Enter a domain like example.com or a URL like https://example.com/.",
                code="invalid_domain",
            ) from None
        others = Website.objects.filter(team=self.team, domain=domain)
        if self.website is not None:
            others = others.exclude(pk=self.website.pk)
        if others.exists():
            raise ValidationError(
                f"This team already has a website for {domain}.", code="duplicate"
            )
        return domain

    def clean_allowed_hostnames(self) -> str:
        return normalise_allowed_hostnames(self.cleaned_data["allowed_hostnames"])

    def clean_timezone(self) -> str:
        try:
            return validate_timezone(self.cleaned_data["timezone"])
        except ValidationError:
            raise ValidationError(
                "Pick a time zone from the list.", code="invalid_timezone"
            ) from None


_LIST_ATTRS = {"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}


class ExclusionsForm(forms.Form):
    """The website's excluded addresses and paths, as typed; checked and normalised by
    the rules of ``services``."""

    excluded_ips = forms.CharField(
        label="IP addresses and ranges",
        required=False,
        max_length=10_000,
        help_text=(
            "One a line: an address like <code>203.0.113.7</code> or "
            "<code>2001:db8::1</code>, or a range in CIDR notation like "
            "<code>203.0.113.0/24</code> or <code>2001:db8::/48</code>."
        ),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "203.0.113.0/24", **_LIST_ATTRS}),
    )
    excluded_paths = forms.CharField(
        label="Paths",
        required=False,
        max_length=25_000,
        help_text=(
            "One pattern a line, starting with <code>/</code>. <code>*</code> stands for "
            "any characters but <code>/</code>, <code>**</code> for any characters; the "
            "whole path must match. <code>/admin/**</code> excludes every page under "
            "<code>/admin/</code> (add <code>/admin</code> for that page itself)."
        ),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "/admin/**", **_LIST_ATTRS}),
    )

    def __init__(self, *args: Any, website: Website, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {"excluded_ips": website.excluded_ips, "excluded_paths": website.excluded_paths},
        )
        super().__init__(*args, **kwargs)

    def clean_excluded_ips(self) -> str:
        return normalise_excluded_ips(self.cleaned_data["excluded_ips"])

    def clean_excluded_paths(self) -> str:
        return normalise_excluded_paths(self.cleaned_data["excluded_paths"])


class DeleteWebsiteForm(forms.Form):
    """Deleting needs the website's domain typed in, so it cannot happen by a slip."""

    confirm = forms.CharField(
        label="Type the domain to confirm",
        max_length=300,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args: Any, website: Website, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.website = website
        self.fields["confirm"].widget.attrs["placeholder"] = website.domain

    def clean_confirm(self) -> str:
        value: str = self.cleaned_data["confirm"].strip().lower()
        if value != self.website.domain:
            raise ValidationError(
                f"Type {self.website.domain} exactly to delete this website.", code="mismatch"
            )
        return value


class ShareLinkForm(forms.Form):
    """A new share link: a label, an optional password, the hosts that may embed it."""

    label = forms.CharField(
        label="Label",
        max_length=MAX_LABEL_CHARS,
        help_text="Who or what the link is for, e.g. “Client Acme” or “Blog sidebar”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    password = forms.CharField(
        label="Password",
        required=False,
        min_length=8,
        max_length=200,
        strip=False,
        help_text=(
            "Visitors type it once per browser session. At least 8 characters. A link "
            "embedded in another site works best without one (browsers often block the "
            "cookie that remembers it inside a frame)."
        ),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    embed_hosts = forms.CharField(
        label="Sites that may embed it",
        required=False,
        max_length=5_000,
        help_text=(
            "One a line: <code>blog.example.com</code>, <code>https://*.example.com</code> "
            "or <code>http://localhost:8080</code>. Only pages on these hosts may show the "
            "dashboard in an <code>&lt;iframe&gt;</code>; leave empty to allow none."
        ),
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "blog.example.com", **_LIST_ATTRS}),
    )

    def clean_embed_hosts(self) -> str:
        return normalise_embed_hosts(self.cleaned_data["embed_hosts"])


class TransferWebsiteForm(forms.Form):
    """Move a website to another team: one where the user is an owner or admin."""

    team = forms.TypedChoiceField(label="Move to the team", coerce=int)

    def __init__(self, *args: Any, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(t.pk, t.name) for t in teams]
