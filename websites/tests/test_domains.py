"""Every way to type a website's domain refuses what IDNA cannot encode with a clear message:
the add and edit forms (domain and allowed hosts) show a field error, ``site add`` stops
with a CommandError, and nothing is written. A non-ASCII domain IDNA accepts is stored in its ASCII form.

The property tests throw generated domains (IDNA edge cases, tricky characters) at the
forms and the command: never a 500 or a traceback, and what is stored is always a domain.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from hypothesis import given

from simple_analytics.testing import make_user, make_website
from simple_analytics.tests.fuzz import FUZZ, IDNA_INVALID_DOMAINS, domains, has_surrogate
from websites.models import Website
from websites.services import normalise_domain

pytestmark = pytest.mark.django_db

# What a form can carry: browsers send no lone surrogates.
TYPED = [d for d in IDNA_INVALID_DOMAINS if not has_surrogate(d)]
STORED = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$"
    r"|^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-f:]+$"  # IPv4 and IPv6 addresses, for local testing
)


@pytest.fixture
def owner():
    return make_user("owner@example.com")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


@pytest.mark.parametrize("domain", IDNA_INVALID_DOMAINS)
def test_normalise_refuses_what_idna_cannot_encode(domain):
    with pytest.raises(ValidationError, match="not a valid domain"):
        normalise_domain(domain)


def test_a_domain_idna_can_encode_is_stored_in_ascii():
    assert normalise_domain("https://www.Bücher.de/shop") == "xn--bcher-kva.de"


@pytest.mark.parametrize("domain", TYPED)
def test_the_add_form_shows_an_error_for_it(owner_client, owner, domain):
    response = owner_client.post(reverse("websites:add"), {"domain": domain, "timezone": "UTC"})
    assert response.status_code == 200
    assert response.context["form"].errors["domain"] == [
        "Enter a domain like example.com or a URL like https://example.com/."
    ]
    assert not Website.objects.filter(owner=owner).exists()


@pytest.mark.parametrize("domain", TYPED)
def test_the_edit_form_shows_an_error_and_changes_nothing(owner_client, owner, domain):
    website = make_website(owner=owner, domain="example.com")
    response = owner_client.post(
        reverse("websites:edit", args=[website.pk]),
        {"domain": domain, "name": "renamed", "timezone": "UTC"},
    )
    assert response.status_code == 200
    assert "domain" in response.context["form"].errors
    website.refresh_from_db()
    assert (website.domain, website.name) == ("example.com", "example.com")


@pytest.mark.parametrize("domain", TYPED)
def test_the_allowed_hosts_field_shows_an_error_and_changes_nothing(owner_client, owner, domain):
    website = make_website(owner=owner, domain="example.com")
    response = owner_client.post(
        reverse("websites:edit", args=[website.pk]),
        {
            "domain": "example.com",
            "timezone": "UTC",
            "allowed_hostnames": f"staging.example.com\n{domain}",
        },
    )
    assert response.status_code == 200
    assert "allowed_hostnames" in response.context["form"].errors
    website.refresh_from_db()
    assert website.allowed_hostnames == ""


@pytest.mark.parametrize("domain", IDNA_INVALID_DOMAINS)
def test_site_add_stops_with_a_clear_message(owner, domain):
    with pytest.raises(CommandError, match="not a valid domain"):
        call_command("site_add", domain, "--owner", owner.email, stdout=StringIO())
    assert not Website.objects.exists()


# --- generated domains ------------------------------------------------------------------


@pytest.mark.slow
@FUZZ
@given(domain=domains(surrogates=False))
def test_the_forms_answer_any_domain_with_a_page(owner_client, owner, domain):
    Website.objects.filter(owner=owner).delete()
    response = owner_client.post(reverse("websites:add"), {"domain": domain, "timezone": "UTC"})
    website = Website.objects.filter(owner=owner).first()
    if response.status_code == 302:
        assert website is not None and STORED.match(website.domain), (domain, website)
        edit = owner_client.post(
            reverse("websites:edit", args=[website.pk]),
            {"domain": domain[::-1], "name": "x", "timezone": "UTC"},
        )
        assert edit.status_code in (200, 302), (domain, edit.status_code)
        website.refresh_from_db()
        assert STORED.match(website.domain), (domain, website.domain)
    else:
        assert response.status_code == 200, (domain, response.status_code)
        assert response.context["form"].errors, domain
        assert website is None


@pytest.mark.slow
@FUZZ
@given(domain=domains())
def test_site_add_answers_any_domain_with_a_site_or_a_command_error(owner, domain):
    Website.objects.all().delete()
    try:
        call_command("site_add", domain, "--owner", owner.email, stdout=StringIO())
    except CommandError as exc:
        assert str(exc), domain
        assert not Website.objects.exists()
    else:
        assert STORED.match(Website.objects.get().domain), domain
