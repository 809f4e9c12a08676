from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def registration_open() -> bool:
    """Whether sign-up is open, so the login page only offers it when it is."""
    return bool(settings.REGISTRATION_OPEN)
