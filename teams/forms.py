from __future__ import annotations

from typing import Any

from django import forms

from teams.models import Role
from teams.services import INVITABLE_ROLES, MAX_TEAM_NAME_CHARS


class TeamForm(forms.Form):
    name = forms.CharField(max_length=MAX_TEAM_NAME_CHARS)


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in INVITABLE_ROLES], initial=Role.VIEWER
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class DeleteTeamForm(forms.Form):
    confirm = forms.CharField(
        label="Type the team's name to confirm", max_length=MAX_TEAM_NAME_CHARS
    )

    def __init__(self, *args: Any, team_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team_name = team_name

    def clean_confirm(self) -> str:
        value: str = self.cleaned_data["confirm"]
        if value.strip() != self.team_name:
            raise forms.ValidationError("That is not the team's name.")
        return value
