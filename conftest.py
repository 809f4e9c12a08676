"""Suite-wide fixtures. PostgreSQL and Redis checks: skip locally, fail under CI=true."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    from stats.cache import forget as forget_stats_versions
    from tracking.identity import forget_salts
    from websites.selectors import tracked_site_forget

    tracked_site_forget()
    forget_salts()
    forget_stats_versions()
    yield
    tracked_site_forget()
    forget_salts()


@pytest.fixture
def real_queue():
    """The configured job queue (SQLite file, or Redis in the PostgreSQL pass), not
    immediate, with the refresh debounce's per-process memory forgotten."""
    from huey.contrib.djhuey import HUEY

    from jobs import tasks

    HUEY.immediate = False
    HUEY.flush()
    tasks._recently_requested.clear()
    tasks._runs_at.clear()
    tasks._owed.clear()
    tasks._queue_down_until = 0.0
    yield HUEY
    HUEY.flush()
    HUEY.immediate = True
    tasks._owed.clear()
    tasks._queue_down_until = 0.0


def require_service(name: str, reachable: bool) -> None:
    if reachable:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is required under CI=true but is not reachable")
    pytest.skip(f"{name} not reachable")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Close PostgreSQL connection pools before the test database is dropped."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for conn in connections.all(initialized_only=True):
            if getattr(conn, "pool", None) is not None:
                conn.close_pool()


# --- Browser tests: Debian's Chromium through Playwright -----------------------------


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
def browser(_orm_beside_playwright) -> Iterator[Any]:
    """Debian's Chromium through Playwright; skips locally without it, fails under CI=true."""
    from simple_analytics.tests.browser import CHROMIUM_ARGS

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
def new_context(browser) -> Iterator[Callable[..., Any]]:
    """Open browser contexts (desktop 1280 × 800 unless told otherwise); all closed at the end."""
    from simple_analytics.testing import DESKTOP_UA
    from simple_analytics.tests.browser import TIMEOUT_S

    opened: list[Any] = []

    def open_context(**options: Any) -> Any:
        options.setdefault("user_agent", DESKTOP_UA)
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_S * 1000)
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests are slow by nature: ``-m "not slow"`` leaves them out too."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
