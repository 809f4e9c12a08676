"""Every user gets a personal team the moment the user row is created, whatever creates it
(sign-up, single sign-on, ``createuser``, the admin, tests). A deleted user takes along the
shared teams they alone were in, and cannot leave a team with members but no owner."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import ProtectedError
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from teams.services import team_delete, team_personal_get, user_departure


@receiver(post_save, sender=get_user_model())
def _personal_team(sender: Any, instance: Any, created: bool, raw: bool = False, **_: Any) -> None:
    if created and not raw:
        team_personal_get(instance)


@receiver(pre_delete, sender=get_user_model(), dispatch_uid="teams-last-owner")
def _last_owner_leaves(sender: Any, instance: Any, **_: Any) -> None:
    departure = user_departure(instance)
    if departure.blocking:
        names = ", ".join(f"“{team}”" for team in departure.blocking)
        raise ProtectedError(
            f"{instance} is the last owner of {names}: make another member owner first.",
            set(departure.blocking),
        )
    for team in departure.deleted:
        team_delete(team=team)
