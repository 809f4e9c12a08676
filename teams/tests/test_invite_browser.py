"""Inviting and accepting in Chromium: the owner switches to the team in the top bar,
invites a colleague on the Members page, the colleague opens the emailed link, logs in and
accepts, and both see the result. Every page is watched for script errors and CSP
violations."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from simple_analytics.testing import make_website
from simple_analytics.tests.browser import Watcher, log_in
from teams.models import Membership, Role
from teams.services import team_create
from teams.tests.conftest import verified_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-9"


def test_an_owner_invites_a_colleague_who_accepts(live_server, new_context):
    owner = verified_user("owner@example.com")
    team = team_create(user=owner, name="Acme agency")
    website = make_website(owner=owner, domain="acme.example")
    website.team = team
    website.save(update_fields=["team"])
    verified_user("colleague@example.com")
    base = live_server.url
    watcher = Watcher()

    page = watcher.attach(new_context().new_page())
    log_in(page, base, "owner@example.com", PASSWORD)
    page.locator("[data-team-switcher] > summary").click()
    page.locator("[data-team-switcher]").get_by_role("button", name="Acme agency").click()
    page.wait_for_selector("text=acme.example")
    page.get_by_role("link", name="Members").first.click()
    page.get_by_label("Email").fill("colleague@example.com")
    page.get_by_label("Role").select_option(value=Role.ADMIN)
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_selector('[data-invitation="colleague@example.com"]')
    watcher.assert_clean(page, "the members page")

    [message] = mail.outbox
    url = re.search(r"https?://\S+/invitations/\S+/", message.body)
    assert url is not None and url.group(0).startswith(base)

    colleague = watcher.attach(new_context().new_page())
    colleague.goto(url.group(0))
    # Not logged in: the login form, which comes back to the link.
    colleague.fill('input[name="login"]', "colleague@example.com")
    colleague.fill('input[name="password"]', PASSWORD)
    colleague.click('main form button[type="submit"]')
    colleague.wait_for_selector("text=Join Acme agency?")
    colleague.get_by_role("button", name="Accept").click()
    colleague.wait_for_url(f"{base}/websites/")
    assert "acme.example" in colleague.locator("main").inner_text()
    # An admin: the website's settings are one click away.
    assert colleague.get_by_role("link", name="Settings").count() == 1
    watcher.assert_clean(colleague, "the colleague's websites")

    member = Membership.objects.get(team=team, user__email="colleague@example.com")
    assert member.role == Role.ADMIN
    page.reload()
    row = page.locator('[data-member="colleague@example.com"]')
    assert row.locator("select").input_value() == Role.ADMIN
    assert page.locator('[data-invitation="colleague@example.com"]').count() == 0

    # The link was used: opening it again shows that it is not valid.
    colleague.goto(url.group(0))
    assert "not valid" in colleague.locator("main").inner_text()
