from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from websites.services import snippet, website_create


class Command(BaseCommand):
    help = "Add a website (simple-analytics site add DOMAIN --owner EMAIL); prints its snippet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("domain")
        parser.add_argument("--owner", required=True, help="email of an existing user")
        parser.add_argument("--timezone", default="UTC", help="IANA name, e.g. Europe/Berlin")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--base-url",
            default=None,
            help="public URL of this server for the snippet (default http://HOST:PORT)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        domain: str = options["domain"]
        owner: str = options["owner"]
        timezone: str = options["timezone"]
        name: str = options["name"]
        base_url: str | None = options["base_url"]
        user = get_user_model().objects.filter(username=owner.strip().lower()).first()
        if user is None:
            raise CommandError(f"no user {owner}: create one with `simple-analytics createuser`")
        try:
            website = website_create(owner=user, domain=domain, name=name, timezone=timezone)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        base = base_url or f"http://{settings.HOST}:{settings.PORT}"
        self.stdout.write(f"tracking id: {website.tracking_id}")
        self.stdout.write(snippet(website, base))
