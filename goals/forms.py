"""Forms of the goals page: what users type; the rules are ``goals.services``'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from goals import services
from goals.models import Goal

_PLAIN = {"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}


def _name_field(placeholder: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label="Display name",
        max_length=services.MAX_NAME_CHARS,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"placeholder": placeholder, **_PLAIN}),
    )


class EventGoalForm(forms.Form):
    event_name = forms.CharField(
        label="Event name",
        max_length=services.MAX_EVENT_NAME_CHARS,
        help_text="As your pages send it, e.g. <code>Signup</code>; upper and lower case count.",
        widget=forms.TextInput(attrs={"placeholder": "Signup", **_PLAIN}),
    )
    # Compared exactly as stored: spaces are kept.
    prop_key = forms.CharField(
        label="Property",
        max_length=services.MAX_PROP_KEY_CHARS,
        required=False,
        strip=False,
        help_text="Only events with this property…",
        widget=forms.TextInput(attrs={"placeholder": "plan", **_PLAIN}),
    )
    prop_value = forms.CharField(
        label="Property value",
        max_length=services.MAX_PROP_VALUE_CHARS,
        required=False,
        strip=False,
        help_text="…and this value (numbers as written, e.g. <code>3</code>; booleans as "
        "<code>true</code> or <code>false</code>).",
        widget=forms.TextInput(attrs={"placeholder": "pro", **_PLAIN}),
    )
    name = _name_field(
        "Signup plan=pro", "Defaults to the event name and property, e.g. Signup plan=pro."
    )


class PageGoalForm(forms.Form):
    page_pattern = forms.CharField(
        label="Page",
        max_length=services.MAX_PATTERN_CHARS,
        help_text="A path: <code>*</code> stands for any characters but <code>/</code>, "
        "<code>**</code> for any characters. <code>/blog/*</code> matches /blog/hello but "
        "not /blog/2024/hello; <code>/docs/**</code> matches every page under /docs/.",
        widget=forms.TextInput(attrs={"placeholder": "/blog/*", **_PLAIN}),
    )
    name = _name_field("Visit /blog/*", "Defaults to “Visit” and the page, e.g. Visit /blog/*.")


class FunnelForm(forms.Form):
    """A name and up to eight steps, each a goal of the website picked from a list."""

    name = forms.CharField(
        label="Name",
        max_length=services.MAX_NAME_CHARS,
        widget=forms.TextInput(attrs={"placeholder": "Blog to signup", **_PLAIN}),
    )

    def __init__(self, *args: Any, goals: list[Goal], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *((goal.name, goal.name) for goal in goals)]
        for i in range(1, services.MAX_FUNNEL_STEPS + 1):
            self.fields[f"step_{i}"] = forms.ChoiceField(
                label=f"Step {i}", choices=choices, required=i <= services.MIN_FUNNEL_STEPS
            )
        self.fields[f"step_{services.MAX_FUNNEL_STEPS}"].help_text = (
            "A visit completes a step once it has reached the steps before it, in order. "
            "Leave the steps you do not need empty."
        )

    def steps(self) -> list[str]:
        """The goals picked, in order, skipping empty steps."""
        last = services.MAX_FUNNEL_STEPS
        picked = (self.cleaned_data.get(f"step_{i}") for i in range(1, last + 1))
        return [name for name in picked if name]


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Errors of ``goals.services`` onto the form: beside their field where the form has
    one, above the form otherwise."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)
