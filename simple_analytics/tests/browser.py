"""Helpers of the browser tests: Chromium's arguments, polling, logging in, and a watcher
that records everything a page should never do (script errors, dialogs, CSP violations).

The fixtures that launch Chromium live in this folder's ``conftest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from django.conf import settings as django_settings
from django.test import Client

from simple_analytics.testing import DESKTOP_UA
from simple_analytics.tests.chromium import chromium_args

CHROMIUM_ARGS = chromium_args(DESKTOP_UA)
TIMEOUT_S = 10.0

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str, timeout: float = TIMEOUT_S) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.02)


def log_in(page: Any, base_url: str, email: str, password: str) -> None:
    """Through the real login form, as a person would."""
    page.goto(f"{base_url}/accounts/login/")
    page.fill('input[name="login"]', email)
    page.fill('input[name="password"]', password)
    page.click('main form button[type="submit"]')
    page.wait_for_url(f"{base_url}/websites/")


def sign_in(context: Any, base_url: str, user: Any) -> None:
    """The session cookie of a logged-in test client (the login form has its own tests)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base_url}])


# Runs before any script of each page; Playwright injects it outside the page's CSP.
_RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}` +
    ` at ${e.sourceFile || "?"}:${e.lineNumber} sample=${e.sample}`);
});
"""


@dataclass
class Watcher:
    """Collects, across navigations, what a page of ours must never do."""

    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_console: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        page.add_init_script(_RECORD_CSP)

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message: Any) -> None:
            if message.type != "error":
                return
            if "Content Security Policy" in message.text:
                self.csp_console.append(message.text)
            else:
                self.console_errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("console", on_console)
        return page

    def assert_clean(self, page: Any, where: str) -> None:
        """Nothing hostile ran and nothing of ours was blocked, on the page as it is now."""
        assert page.evaluate("typeof window.__xss") == "undefined", f"{where}: payload ran"
        violations = page.evaluate("window.__cspViolations || []")
        assert violations == [], f"{where}: CSP violations {violations}"
        assert self.csp_console == [], f"{where}: CSP violations {self.csp_console}"
        assert self.dialogs == [], f"{where}: dialogs {self.dialogs}"
        assert self.page_errors == [], f"{where}: script errors {self.page_errors}"
        assert self.console_errors == [], f"{where}: console errors {self.console_errors}"
        # Elements a payload would create if it were parsed as HTML.
        injected = page.evaluate(
            """() => Array.from(document.querySelectorAll(
                 'img[src="x"], [onerror], [onload], svg[onload], script:not([src])'
               ), (el) => el.outerHTML.slice(0, 80))"""
        )
        assert injected == [], f"{where}: markup from tracked values {injected}"
