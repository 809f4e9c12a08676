"""Screenshots for the README, from the production server with the demo data.

    python scripts/screenshots.py [--out docs/screenshots] [--events 150000]

Starts ``simple-analytics serve`` on a free port with a fresh data directory (SQLite, the
embedded defaults), loads ``simple-analytics demo``, logs in as the demo user through the
login form in Debian's Chromium (Playwright drives it; nothing is downloaded) and saves:

    dashboard-desktop.png   the dashboard, 1440 px wide, full page
    dashboard-conversions.png  its Goals, Custom events (the properties of "Signup" open)
                            and Funnel panels, 1440 px wide
    dashboard-locations.png its Locations panel: the world map and the Countries tab
    dashboard-filters.png   the dashboard filtered with "is not" and "contains", the Filter
                            form open, 1440 px wide, the top of the page
    dashboard-phone.png     the dashboard on a 390 px phone, full page
    websites.png            the list of websites
    snippet.png             the snippet page
    exclusions.png          the website's Exclusions settings
    sharing.png             the website's Sharing page with a password-protected link
    share-dashboard.png     that link opened by a visitor without an account
    members.png             the demo team's Members page: an admin and a viewer who accepted
                            their emailed invitations, and a pending invitation
    email-report.png        the HTML part of the monthly email report (``report_preview``)
    login-sso.png           the login page with the single sign-on button (the issuer is
                            never contacted: only pressing the button would)

then stops the server. `make screenshots` runs it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from simple_analytics.tests.chromium import chromium_args
from systemtests.harness import CLI, HOST, ROOT, Proc, cli, free_port, wait_http

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-analytics"
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Colleagues of the demo user (``createuser``), invited on the Members page.
COLLEAGUES = {"ana.admin@example.com": "admin", "ben.viewer@example.com": "viewer"}
COLLEAGUE_PASSWORD = "colleague-pass-2026"
_INVITATION = re.compile(r"/invitations/([A-Za-z0-9_-]{20,})/")


def _last_invitation_token(log: Callable[[], str], seen: set[str]) -> str:
    """The token of the invitation email just printed by the console email backend."""
    for _ in range(50):
        fresh = [str(t) for t in _INVITATION.findall(log()) if t not in seen]
        if fresh:
            seen.add(fresh[-1])
            return fresh[-1]
        time.sleep(0.1)
    raise SystemExit("no invitation email in the server's output")


def shoot(base: str, out: Path, log: Callable[[], str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    saved: list[Path] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=chromium_args())
        desktop = browser.new_context(viewport=DESKTOP)
        page = desktop.new_page()
        page.goto(f"{base}/accounts/login/")
        page.screenshot(path=str(out / "login-sso.png"))
        saved.append(out / "login-sso.png")
        page.fill('input[name="login"]', DEMO_EMAIL)
        page.fill('input[name="password"]', DEMO_PASSWORD)
        page.click('main form button[type="submit"]')
        page.wait_for_url(f"{base}/websites/")

        def save(p: Page, name: str) -> None:
            p.wait_for_load_state("networkidle")
            p.evaluate("document.fonts.ready")
            path = out / name
            p.screenshot(path=str(path), full_page=True)
            saved.append(path)

        page.reload()  # without the one-off "Successfully signed in" message
        save(page, "websites.png")
        dashboard = page.locator(".site-card h2 a").first.get_attribute("href")
        page.goto(f"{base}{dashboard}")
        save(page, "dashboard-desktop.png")
        page.goto(f"{base}{dashboard}?period=30d&event=Signup#events")
        page.wait_for_load_state("networkidle")
        # Page coordinates (bounding_box() is relative to the scrolled viewport).
        top, bottom = page.evaluate(
            "[document.getElementById('goals').getBoundingClientRect().top + scrollY,"
            " document.getElementById('funnel').getBoundingClientRect().bottom + scrollY]"
        )
        margin = 12  # less than the gap between cards: none of the card above shows
        path = out / "dashboard-conversions.png"
        page.screenshot(
            path=str(path),
            full_page=True,
            clip={
                "x": 0,
                "y": top - margin,
                "width": DESKTOP["width"],
                "height": bottom - top + 2 * margin,
            },
        )
        saved.append(path)
        page.goto(f"{base}{dashboard}?period=30d")
        page.wait_for_load_state("networkidle")
        path = out / "dashboard-locations.png"
        page.locator('[data-tabs="locations"]').screenshot(path=str(path))
        saved.append(path)
        page.goto(f"{base}{dashboard}?period=30d&source=%21%28none%29&page=~blog")
        page.wait_for_load_state("networkidle")
        page.locator(".filter-add > summary").click()
        page.locator(".filter-form select[name=dimension]").select_option("browser")
        page.locator(".filter-form textarea").fill("Firefox\nSafari")
        path = out / "dashboard-filters.png"
        page.screenshot(
            path=str(path), clip={"x": 0, "y": 0, "width": DESKTOP["width"], "height": 760}
        )
        saved.append(path)
        page.goto(f"{base}{dashboard}snippet/")
        save(page, "snippet.png")
        page.goto(f"{base}{dashboard}exclusions/")
        save(page, "exclusions.png")
        page.goto(f"{base}{dashboard}sharing/")
        page.fill('input[name="label"]', "Client Acme")
        page.fill('input[name="password"]', "acme-dashboard-2026")
        page.fill('textarea[name="embed_hosts"]', "intranet.acme.example")
        page.click('form.form button[type="submit"]')
        page.wait_for_selector("[data-share-url]")
        save(page, "sharing.png")
        share_url = page.locator("[data-share-url]").first.inner_text().strip()
        visitor = browser.new_context(viewport=DESKTOP).new_page()
        visitor.goto(share_url)
        visitor.fill('input[name="password"]', "acme-dashboard-2026")
        visitor.click('main form button[type="submit"]')
        visitor.wait_for_selector(".kpi")
        save(visitor, "share-dashboard.png")

        page.goto(f"{base}/teams/")
        members = page.locator('a:has-text("Members")').first.get_attribute("href")
        seen: set[str] = set()
        for email, role in [*COLLEAGUES.items(), ("carla@example.com", "viewer")]:
            page.goto(f"{base}{members}")
            page.fill('input[name="email"]', email)
            page.select_option('select[name="role"]', role)
            page.click('form[action$="/invite/"] button[type="submit"]')
            page.wait_for_selector(f'[data-invitation="{email}"]')
            token = _last_invitation_token(log, seen)
            if email not in COLLEAGUES:
                continue  # stays pending
            colleague = browser.new_context(viewport=DESKTOP).new_page()
            colleague.goto(f"{base}/invitations/{token}/")
            colleague.fill('input[name="login"]', email)
            colleague.fill('input[name="password"]', COLLEAGUE_PASSWORD)
            colleague.click('main form button[type="submit"]')
            colleague.click('main form button:has-text("Accept")')
            colleague.wait_for_url(f"{base}/websites/")
            colleague.context.close()
        page.goto(f"{base}{members}")
        save(page, "members.png")

        phone = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            storage_state=desktop.storage_state(),
        ).new_page()
        phone.goto(f"{base}{dashboard}")
        save(phone, "dashboard-phone.png")
        browser.close()
    return saved


def shoot_email(html: Path, out: Path) -> Path:
    """The email report's HTML part as a mail client shows it: 680 px wide, no server."""
    from playwright.sync_api import sync_playwright

    path = out / "email-report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=chromium_args())
        page = browser.new_page(viewport={"width": 680, "height": 400})
        page.set_content(html.read_text(encoding="utf-8"))
        page.screenshot(path=str(path), full_page=True)
        browser.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--events", type=int, default=150_000, help="demo events to load")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data_dir = Path(tempfile.mkdtemp(prefix="sa-screenshots-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DATA_DIR": str(data_dir), "DEBUG": "False", "LOG_LEVEL": "WARNING"})
    (data_dir / "oidc_secret").write_text("screenshots-only")
    env.update(
        OIDC_ISSUER_URL="https://id.example.com/realms/staff",
        OIDC_CLIENT_ID="simple-analytics",
        OIDC_CLIENT_SECRET_FILE=str(data_dir / "oidc_secret"),
        OIDC_NAME="Example ID",
    )
    port = free_port()
    base = f"http://localhost:{port}"  # the host the snippet on the snippet page shows
    server = Proc("serve", [CLI, "serve", "--host", HOST, "--port", str(port)], env, data_dir)
    server.start()
    ok = False
    try:
        wait_http(port, alive=server.alive)
        print(f"server up at {base}; loading the demo data ...", flush=True)
        cli(env, "demo", "--quiet", "--events", str(args.events), timeout=None)
        email = data_dir / "email-report.html"
        cli(env, "report_preview", "--frequency", "monthly", "--html", str(email))
        for colleague in COLLEAGUES:
            cli(env, "createuser", colleague, "--password", COLLEAGUE_PASSWORD)
        shots = shoot(base, args.out, server.log_text)
        for path in [*shots, shoot_email(email, args.out)]:
            print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        ok = True
    finally:
        server.stop(timeout=20)
        if not ok:
            print(f"--- the server's output ---\n{server.log_text()[-4000:]}")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
