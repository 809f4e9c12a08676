"""What the ``goal`` and ``funnel`` commands share: the website of ``--site``, the way
errors end the process, and the JSON they print."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from websites.models import Website


class SubcommandsCommand(BaseCommand):
    """A command whose first argument is an action (``goal add``, ``goal list``...)."""

    def run_from_argv(self, argv: list[str]) -> None:
        # argparse ends a usage error with status 2; every bad input of these commands
        # ends with 1, like the errors of the commands themselves.
        try:
            super().run_from_argv(argv)
        except SystemExit as exc:
            if exc.code == 2:
                raise SystemExit(1) from None
            raise


def add_site(parser: CommandParser) -> None:
    parser.add_argument("--site", required=True, metavar="ID", help="the website's tracking id")


def website_for(site: str) -> Website:
    website = Website.objects.filter(tracking_id=site).first()
    if website is None:
        raise CommandError(f"no website with tracking id {site!r}")
    return website


def command_error(exc: ValidationError) -> CommandError:
    return CommandError("; ".join(exc.messages))


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
