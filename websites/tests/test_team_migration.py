"""The migration to teams: every user gets a personal team it owns, and each website moves
to its owner's personal team."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("websites", "0004_sharelink")]
AFTER = [("websites", "0006_website_team_required")]


def _migrate(targets: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_websites_move_to_their_owners_personal_teams():
    old = _migrate(BEFORE)
    User = old.get_model("auth", "User")
    Website = old.get_model("websites", "Website")
    alice = User.objects.create(username="alice@example.com", email="alice@example.com")
    bob = User.objects.create(username="bob@example.com", email="bob@example.com")
    User.objects.create(username="carol@example.com", email="carol@example.com")
    for owner, domain in [(alice, "a.example"), (alice, "b.example"), (bob, "c.example")]:
        Website.objects.create(owner=owner, domain=domain, name=domain, tracking_id=domain)
    try:
        new = _migrate(AFTER)
        Team = new.get_model("teams", "Team")
        Membership = new.get_model("teams", "Membership")
        Website = new.get_model("websites", "Website")
        assert Team.objects.count() == 3
        for user in User.objects.all():
            team = Team.objects.get(personal_for_id=user.pk)
            assert list(Membership.objects.filter(team=team).values_list("user_id", "role")) == [
                (user.pk, "owner")
            ]
        teams = dict(Website.objects.values_list("domain", "team__personal_for__username"))
        assert teams == {
            "a.example": "alice@example.com",
            "b.example": "alice@example.com",
            "c.example": "bob@example.com",
        }
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
