from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from websites.services import snippet, website_create


class Command(BaseCommand):
    help = (
        "Add a website to the personal team of a user (simple-analytics site add DOMAIN "
        "--owner EMAIL); prints its snippet."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domain")
        parser.add_argument("--owner", required=True, help="email of an existing user")
        parser.add_argument("--timezone", default="UTC", help="IANA name, e.g. Europe/Berlin")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--base-url",
            default=None,
            help="public URL of this server for the snippet (default BASE_URL, else http://HOST:PORT)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        domain: str = options["domain"]
        owner: str = options["owner"]
        timezone: str = options["timezone"]
        name: str = options["name"]
        base_url: str | None = options["base_url"]
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise CommandError("--base-url must start with http:// or https://")
        user = get_user_model().objects.filter(username=owner.strip().lower()).first()
        if user is None:
            raise CommandError(f"no user {owner}: create one with `simple-analytics createuser`")
        try:
            website = website_create(owner=user, domain=domain, name=name, timezone=timezone)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        base = base_url or settings.BASE_URL
        if not base:
            base = local_base_url(settings.HOST, settings.PORT)
            self.stderr.write(
                f"BASE_URL is not set: the snippet loads the script from {base}, which only "
                "browsers on this machine reach. Set BASE_URL (or pass --base-url) to this "
                "server's public URL."
            )
        self.stdout.write(f"tracking id: {website.tracking_id}")
        self.stdout.write(snippet(website, base))


def local_base_url(host: str, port: int) -> str:
    """Where ``serve`` listens, as a browser on this machine reaches it."""
    if host in ("0.0.0.0", "::", ""):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
