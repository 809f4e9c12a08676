from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from simple_analytics.testing import make_user
from teams.models import Membership, Role, Team
from teams.services import team_create


def verified_user(email: str) -> Any:
    user = make_user(email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner(db) -> Any:
    return verified_user("owner@example.com")


@pytest.fixture
def team(owner) -> Team:
    return team_create(user=owner, name="Agency")


def add_member(team: Team, email: str, role: str) -> Membership:
    return Membership.objects.create(team=team, user=verified_user(email), role=role)


@pytest.fixture
def admin(team) -> Membership:
    return add_member(team, "admin@example.com", Role.ADMIN)


@pytest.fixture
def viewer(team) -> Membership:
    return add_member(team, "viewer@example.com", Role.VIEWER)
