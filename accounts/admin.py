"""The admin's user pages, with the teams' rules on deletion: the confirmation page lists
the shared teams that go with the user, and refuses while a team would keep members but
lose its last owner (``teams.services.user_departure``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from teams.services import user_departure

User = get_user_model()

if TYPE_CHECKING:  # generic in the stubs only
    _Base = DjangoUserAdmin[Any]
else:
    _Base = DjangoUserAdmin


class UserAdmin(_Base):
    def get_deleted_objects(self, objs: Iterable[Any], request: HttpRequest) -> Any:
        users = list(objs)
        deleted, counts, perms_needed, protected = super().get_deleted_objects(users, request)
        departure = user_departure(*users)
        for team in departure.deleted:
            deleted.append(f"Team: {team} (no other member), with its websites and their data")
        if departure.deleted:
            counts["teams"] = counts.get("teams", 0) + len(departure.deleted)
        for team in departure.blocking:
            protected.append(
                f"Team: {team}. It has other members but no other owner: make one of them"
                " owner first"
            )
        return deleted, counts, perms_needed, protected


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
