"""``goal add|list|delete --site ID``: a website's goals from the command line."""

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
from goals.models import Goal, GoalKind
from goals.selectors import goal_get, goal_list
from goals.services import goal_create, goal_delete
from websites.models import Website


class Command(SubcommandsCommand):
    help = "Add, list or delete the goals of a website (simple-analytics goal add --site ID ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list,delete}")
        add = actions.add_parser(
            "add",
            help="add an event goal (--event) or a page goal (--page)",
            description="Add an event goal (--event NAME [--prop KEY=VALUE]) or a page goal "
            "(--page PATTERN: * is any characters but /, ** any characters).",
        )
        add_site(add)
        what = add.add_mutually_exclusive_group(required=True)
        what.add_argument("--event", metavar="NAME", help="an event name, e.g. Signup")
        what.add_argument("--page", metavar="PATTERN", help="a path pattern, e.g. /blog/*")
        add.add_argument("--prop", metavar="KEY=VALUE", help="only events with this property")
        add.add_argument("--name", metavar="DISPLAY", default="", help="the goal's display name")

        listing = actions.add_parser("list", help="list the goals")
        add_site(listing)
        listing.add_argument("--json", action="store_true", help="print JSON")

        delete = actions.add_parser("delete", help="delete a goal by its display name")
        add_site(delete)
        delete.add_argument("name", metavar="NAME", help="the goal's display name")

    def handle(self, *args: Any, **options: Any) -> None:
        website = website_for(options["site"])
        action: str = options["action"]
        if action == "add":
            self._add(website, options)
        elif action == "list":
            self._list(website, json=options["json"])
        else:
            name: str = options["name"]
            goal = goal_get(website, name)
            if goal is None:
                raise CommandError(f'no goal "{name}" on {website.domain}')
            try:
                goal_delete(goal=goal)
            except ValidationError as exc:
                raise command_error(exc) from None
            self.stdout.write(f'deleted goal "{goal.name}"')

    def _add(self, website: Website, options: dict[str, Any]) -> None:
        event: str | None = options["event"]
        prop: str | None = options["prop"]
        key = value = ""
        if prop is not None:
            if event is None:
                raise CommandError("--prop goes with --event (a page goal has no property)")
            key, sep, value = prop.partition("=")
            if not sep:
                raise CommandError("--prop takes KEY=VALUE, e.g. --prop plan=pro")
        try:
            if event is not None:
                goal = goal_create(
                    website=website,
                    kind=GoalKind.EVENT,
                    event_name=event,
                    prop_key=key,
                    prop_value=value,
                    name=options["name"],
                )
            else:
                goal = goal_create(
                    website=website,
                    kind=GoalKind.PAGE,
                    page_pattern=options["page"],
                    name=options["name"],
                )
        except ValidationError as exc:
            raise command_error(exc) from None
        self.stdout.write(f'added goal "{goal.name}" ({goal.definition})')

    def _list(self, website: Website, *, json: bool) -> None:
        goals = list(goal_list(website))
        if json:
            self.stdout.write(dumps([_as_json(goal) for goal in goals]))
            return
        if not goals:
            self.stdout.write(
                f"no goals yet: add one with simple-analytics goal add --site "
                f"{website.tracking_id} --event NAME (or --page PATTERN)"
            )
            return
        width = min(40, max(len(goal.name) for goal in goals))
        for goal in goals:
            self.stdout.write(f"{goal.name:<{width}}  {goal.definition}")


def _as_json(goal: Goal) -> dict[str, str]:
    return {
        "name": goal.name,
        "kind": goal.kind,
        "event_name": goal.event_name,
        "prop_key": goal.prop_key,
        "prop_value": goal.prop_value,
        "page_pattern": goal.page_pattern,
        "created_at": goal.created_at.isoformat(),
    }
