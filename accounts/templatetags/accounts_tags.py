from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def registration_open() -> bool:
    """Whether sign-up is open, so the login page only offers it when it is."""
    return bool(settings.REGISTRATION_OPEN)


@register.simple_tag
def email_configured() -> bool:
    """Whether account emails leave this server (``EMAIL_HOST`` set); else they are only
    printed to its console, and the pages must not claim a message was sent."""
    return bool(settings.EMAIL_HOST)
