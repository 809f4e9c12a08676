from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # allauth counts attempts in the cache; one test's failed logins must not block another.
    cache.clear()
    yield
    cache.clear()
