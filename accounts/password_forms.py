"""allauth's password forms, refused while ``PASSWORD_LOGIN`` is False (SSO only)."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import ResetPasswordForm as AllauthResetPasswordForm
from django.conf import settings
from django.core.exceptions import ValidationError

PASSWORD_LOGIN_OFF = (
    "Password login is turned off on this server: use the single sign-on button instead."
)


class ResetPasswordForm(AllauthResetPasswordForm):
    def clean(self) -> dict[str, Any]:
        # A reset link would set a password nobody can log in with; say so instead.
        if not settings.PASSWORD_LOGIN:
            raise ValidationError(PASSWORD_LOGIN_OFF)
        cleaned: dict[str, Any] = super().clean()
        return cleaned
