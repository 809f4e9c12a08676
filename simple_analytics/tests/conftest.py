"""Fixtures of the security and browser tests in this folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache

from conftest import require_service
from simple_analytics.testing import DESKTOP_UA
from simple_analytics.tests.browser import CHROMIUM_ARGS, TIMEOUT_S
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


@pytest.fixture(scope="module")
def _orm_beside_playwright() -> Iterator[None]:
    """Let the ORM run while Playwright's sync API is alive (browser test modules only).

    The sync API parks an asyncio loop in a greenlet of the main thread, so Django's
    async-safety check sees a "running loop" and refuses every query with
    SynchronousOnlyOperation, although the test code is plain synchronous code (the
    workaround Playwright's maintainers give: microsoft/playwright-pytest#29).
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_orm_beside_playwright) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Debian's Chromium through Playwright; skips locally without it, fails under CI=true."""
    executable = shutil.which("chromium")
    require_service("Chromium (Debian package `chromium`)", executable is not None)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("the playwright Python package", False)
    # With executable_path Playwright uses that browser and never downloads one.
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser) -> Iterator[Callable[..., Any]]:  # type: ignore[no-untyped-def]
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
