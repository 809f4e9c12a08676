from __future__ import annotations

from django import forms


class ReportsForm(forms.Form):
    weekly = forms.BooleanField(
        required=False,
        label="Weekly report",
        help_text="Every Monday morning: the week from Monday to Sunday.",
    )
    monthly = forms.BooleanField(
        required=False,
        label="Monthly report",
        help_text="On the 1st of each month: the month before.",
    )
