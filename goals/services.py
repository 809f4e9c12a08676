"""Writes of goals and funnels: create and delete, with every rule a definition follows.

The limits on event names and properties are those of the ingestion contract (an event
goal can only match what ingestion stores); a page pattern matches the path of a URL.
Every rule raises ``ValidationError`` keyed by the field it is about, so the settings
forms show it beside that field and the CLI prints it as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.patterns import star_between_anys
from goals.models import Funnel, FunnelStep, Goal, GoalKind
from websites.models import Website

MAX_NAME_CHARS = 200  # display names of goals and funnels
MAX_EVENT_NAME_CHARS = 120
MAX_PROP_KEY_CHARS = 300
MAX_PROP_VALUE_CHARS = 2000
# Longer patterns cost more to match against a long path (``goals.matching``).
MAX_PATTERN_CHARS = 200
MIN_FUNNEL_STEPS = 2
MAX_FUNNEL_STEPS = 8

T = TypeVar("T")


def _text(value: str, what: str) -> str:
    # PostgreSQL cannot store NUL, and lone surrogates cannot be encoded: refuse both so
    # SQLite and PostgreSQL agree (as ingestion does).
    if "\x00" in value:
        raise ValidationError(f"The {what} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"The {what} is not valid Unicode.") from None
    return value


def validate_name(name: str, what: str = "goal") -> str:
    """A display name, trimmed: 1 to 200 characters."""
    name = _text(name.strip(), "name")
    if not name:
        raise ValidationError(f"Give the {what} a name.")
    if len(name) > MAX_NAME_CHARS:
        raise ValidationError(f"A {what} name has at most {MAX_NAME_CHARS} characters.")
    return name


def validate_event_name(name: str) -> str:
    """An event name as ingestion stores it: trimmed, 1 to 120 characters."""
    name = _text(name.strip(), "event name")
    if not 1 <= len(name) <= MAX_EVENT_NAME_CHARS:
        raise ValidationError(
            f"An event name has 1 to {MAX_EVENT_NAME_CHARS} characters (after trimming)."
        )
    return name


def validate_prop(key: str, value: str) -> tuple[str, str]:
    """A property key and value, compared exactly as ingestion stores them (numbers as
    JSON writes them, booleans as ``true``/``false``). No key means no property."""
    key, value = _text(key, "property key"), _text(value, "property value")
    if not key:
        if value:
            raise ValidationError({"prop_key": "Give the property's key too."})
        return "", ""
    if len(key) > MAX_PROP_KEY_CHARS:
        raise ValidationError(
            {"prop_key": f"A property key has at most {MAX_PROP_KEY_CHARS} characters."}
        )
    if len(value) > MAX_PROP_VALUE_CHARS:
        raise ValidationError(
            {"prop_value": f"A property value has at most {MAX_PROP_VALUE_CHARS} characters."}
        )
    return key, value


def validate_page_pattern(pattern: str) -> str:
    """A path pattern, trimmed: starts with "/", at most 200 characters, no query string
    or fragment (a path has neither), and no ``*`` between two ``**``."""
    pattern = _text(pattern.strip(), "page pattern")
    if not pattern.startswith("/"):
        raise ValidationError('A page pattern is a path: it starts with "/", like /blog/*.')
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValidationError(f"A page pattern has at most {MAX_PATTERN_CHARS} characters.")
    if "?" in pattern or "#" in pattern:
        raise ValidationError(
            'A page pattern matches the path only: leave out the query ("?...") and "#...".'
        )
    if star_between_anys(pattern):
        raise ValidationError("A page pattern cannot use * between two **.")
    return pattern


def default_goal_name(
    *,
    kind: str,
    event_name: str = "",
    prop_key: str = "",
    prop_value: str = "",
    page_pattern: str = "",
) -> str:
    """``Signup``, ``Signup plan=pro`` or ``Visit /blog/*``."""
    if kind == GoalKind.PAGE:
        return f"Visit {page_pattern}"
    return f"{event_name} {prop_key}={prop_value}" if prop_key else event_name


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


class _Errors:
    """Problems by field, so one answer lists them all."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def check(self, field: str, validate: Callable[..., T], *args: str) -> T | None:
        """``validate(*args)``, or None with its messages kept (under their own fields
        when it names them)."""
        try:
            return validate(*args)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for key, messages in exc.message_dict.items():
                    self.by_field.setdefault(key, []).extend(messages)
            else:
                self.by_field.setdefault(field, []).extend(exc.messages)
            return None

    def raise_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


def goal_create(
    *,
    website: Website,
    kind: str,
    event_name: str = "",
    prop_key: str = "",
    prop_value: str = "",
    page_pattern: str = "",
    name: str = "",
) -> Goal:
    """A new goal of ``website``; raises ValidationError (every problem found, by field).

    An event goal takes ``event_name`` and optionally ``prop_key``/``prop_value``, a page
    goal ``page_pattern``; ``name`` defaults to ``default_goal_name``.
    """
    errors = _Errors()
    if kind == GoalKind.EVENT:
        if page_pattern:
            errors.add("page_pattern", "An event goal has no page pattern.")
        event_name = errors.check("event_name", validate_event_name, event_name) or ""
        prop = errors.check("prop_key", validate_prop, prop_key, prop_value)
        prop_key, prop_value = prop or ("", "")
    elif kind == GoalKind.PAGE:
        if event_name or prop_key or prop_value:
            errors.add("event_name", "A page goal has no event name or property.")
        page_pattern = errors.check("page_pattern", validate_page_pattern, page_pattern) or ""
    else:
        errors.add("kind", 'A goal is an "event" or a "page" goal.')
    errors.raise_any()

    if name.strip():
        name = errors.check("name", validate_name, name) or ""
    else:
        name = default_goal_name(
            kind=kind,
            event_name=event_name,
            prop_key=prop_key,
            prop_value=prop_value,
            page_pattern=page_pattern,
        ).strip()
        if len(name) > MAX_NAME_CHARS:
            errors.add("name", f"Give this goal a name of at most {MAX_NAME_CHARS} characters.")
            name = ""
    if name and Goal.objects.filter(website=website, name=name).exists():
        errors.add("name", f'A goal named "{name}" exists already.')
    errors.raise_any()
    same = Goal.objects.filter(
        website=website,
        kind=kind,
        event_name=event_name,
        prop_key=prop_key,
        prop_value=prop_value,
        page_pattern=page_pattern,
    ).first()
    if same is not None:
        raise ValidationError(f'This goal exists already, as "{same.name}".')
    try:
        with transaction.atomic():
            return Goal.objects.create(
                website=website,
                name=name,
                kind=kind,
                event_name=event_name,
                prop_key=prop_key,
                prop_value=prop_value,
                page_pattern=page_pattern,
            )
    except IntegrityError:  # another request took the name since the check above
        raise ValidationError({"name": f'A goal named "{name}" exists already.'}) from None


def goal_delete(*, goal: Goal) -> None:
    """Delete the goal; raises ValidationError naming the funnels it is a step of."""
    funnels = list(
        Funnel.objects.filter(steps__goal=goal).order_by("name").values_list("name", flat=True)
    )
    if funnels:
        word = "funnel" if len(funnels) == 1 else "funnels"
        raise ValidationError(
            f'Goal "{goal.name}" is a step of {word} {_quoted(funnels)}: delete the {word} first.'
        )
    goal.delete()


def funnel_create(*, website: Website, name: str, steps: Sequence[str]) -> Funnel:
    """A new funnel of ``website`` whose steps are its goals named ``steps``, in order (2
    to 8, each goal once); raises ValidationError."""
    errors = _Errors()
    name = errors.check("name", lambda n: validate_name(n, "funnel"), name) or ""
    if name and Funnel.objects.filter(website=website, name=name).exists():
        errors.add("name", f'A funnel named "{name}" exists already.')
    names = [step.strip() for step in steps]
    if not MIN_FUNNEL_STEPS <= len(names) <= MAX_FUNNEL_STEPS:
        errors.add(
            "steps",
            f"A funnel has {MIN_FUNNEL_STEPS} to {MAX_FUNNEL_STEPS} steps, not {len(names)}.",
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        errors.add("steps", f"A goal can be one step of a funnel only: {_quoted(repeated)}.")
    goals = {g.name: g for g in Goal.objects.filter(website=website, name__in=names)}
    unknown = [n for n in dict.fromkeys(names) if n not in goals]
    if unknown:
        word = "goal" if len(unknown) == 1 else "goals"
        errors.add("steps", f"No {word} {_quoted(unknown)} on this website.")
    errors.raise_any()
    try:
        with transaction.atomic():
            funnel = Funnel.objects.create(website=website, name=name)
            FunnelStep.objects.bulk_create(
                FunnelStep(funnel=funnel, goal=goals[n], position=i)
                for i, n in enumerate(names, start=1)
            )
    except IntegrityError:  # another request took the name since the check above
        raise ValidationError({"name": f'A funnel named "{name}" exists already.'}) from None
    return funnel


def funnel_delete(*, funnel: Funnel) -> None:
    """Delete the funnel and its steps; its goals stay."""
    funnel.delete()
