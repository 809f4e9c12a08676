"""Every user gets a personal team the moment the user row is created, whatever creates it
(sign-up, single sign-on, ``createuser``, the admin, tests)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver

from teams.services import team_personal_get


@receiver(post_save, sender=get_user_model())
def _personal_team(sender: Any, instance: Any, created: bool, raw: bool = False, **_: Any) -> None:
    if created and not raw:
        team_personal_get(instance)
