"""Fixtures of the security and browser tests in this folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache

from simple_analytics.testing import DESKTOP_UA
from simple_analytics.tests.browser import TIMEOUT_S
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


@pytest.fixture
def new_context(browser) -> Iterator[Callable[..., Any]]:
    """Open browser contexts (desktop 1280 px unless told otherwise); all closed at the end."""
    opened: list[Any] = []

    def open_context(**options: Any) -> Any:
        options.setdefault("user_agent", DESKTOP_UA)
        options.setdefault("viewport", {"width": 1280, "height": 800})
        ctx = browser.new_context(**options)
        ctx.set_default_timeout(TIMEOUT_S * 1000)
        opened.append(ctx)
        return ctx

    yield open_context
    for ctx in opened:
        ctx.close()
