"""The dashboard tests' common cast: a user and their website (modules add traffic)."""

from __future__ import annotations

import pytest

from simple_analytics.testing import make_user, make_website


@pytest.fixture
def owner():
    return make_user()


@pytest.fixture
def website(owner):
    return make_website(owner=owner)
