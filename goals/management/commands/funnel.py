"""``funnel add|list|delete --site ID``: a website's funnels from the command line."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from goals.management.base import (
    SubcommandsCommand,
    add_site,
    command_error,
    dumps,
    website_for,
)
from goals.models import Funnel
from goals.selectors import funnel_get, funnel_list
from goals.services import funnel_create, funnel_delete
from websites.models import Website


class Command(SubcommandsCommand):
    help = "Add, list or delete the funnels of a website (simple-analytics funnel add ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list,delete}")
        add = actions.add_parser(
            "add",
            help="add a funnel of 2 to 8 goals, in order",
            description="Add a funnel: --step once per goal (its display name), in order.",
        )
        add_site(add)
        add.add_argument("--name", required=True, metavar="N", help="the funnel's name")
        add.add_argument(
            "--step",
            dest="steps",
            action="append",
            required=True,
            metavar="GOAL",
            help="a goal's display name; repeat for each step",
        )

        listing = actions.add_parser("list", help="list the funnels and their steps")
        add_site(listing)
        listing.add_argument("--json", action="store_true", help="print JSON")

        delete = actions.add_parser("delete", help="delete a funnel (its goals stay)")
        add_site(delete)
        delete.add_argument("name", metavar="NAME", help="the funnel's name")

    def handle(self, *args: Any, **options: Any) -> None:
        website = website_for(options["site"])
        action: str = options["action"]
        if action == "add":
            try:
                funnel = funnel_create(
                    website=website, name=options["name"], steps=options["steps"]
                )
            except ValidationError as exc:
                raise command_error(exc) from None
            steps = " -> ".join(_steps(funnel))
            self.stdout.write(f'added funnel "{funnel.name}": {steps}')
        elif action == "list":
            self._list(website, json=options["json"])
        else:
            name: str = options["name"]
            found = funnel_get(website, name)
            if found is None:
                raise CommandError(f'no funnel "{name}" on {website.domain}')
            funnel_delete(funnel=found)
            self.stdout.write(f'deleted funnel "{found.name}"')

    def _list(self, website: Website, *, json: bool) -> None:
        funnels = list(funnel_list(website))
        if json:
            self.stdout.write(dumps([_as_json(funnel) for funnel in funnels]))
            return
        if not funnels:
            self.stdout.write(
                f"no funnels yet: add one with simple-analytics funnel add --site "
                f"{website.tracking_id} --name N --step GOAL --step GOAL"
            )
        for funnel in funnels:
            self.stdout.write(f"{funnel.name}: {' -> '.join(_steps(funnel))}")


def _steps(funnel: Funnel) -> list[str]:
    return [step.goal.name for step in funnel.steps.all()]


def _as_json(funnel: Funnel) -> dict[str, Any]:
    return {
        "name": funnel.name,
        "steps": _steps(funnel),
        "created_at": funnel.created_at.isoformat(),
    }
