"""How every browser test and the screenshot script start Debian's Chromium (no Django here)."""

from __future__ import annotations

BASE_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # pixel.js ignores browsers with navigator.webdriver set, as a tracker should.
    "--disable-blink-features=AutomationControlled",
]


def chromium_args(user_agent: str | None = None) -> list[str]:
    """Launch flags; ``user_agent`` is set for the whole browser because Playwright's
    per-context override is lost on beacons sent while a page unloads ("HeadlessChrome"
    is then dropped as a bot)."""
    return BASE_ARGS + ([f"--user-agent={user_agent}"] if user_agent else [])
