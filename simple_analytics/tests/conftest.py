"""Fixtures of the security and browser tests in this folder."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from simple_analytics.tests.routes import World, make_world


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # allauth counts login attempts in the cache; one test's attempts must not block another.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db) -> World:
    return make_world()
