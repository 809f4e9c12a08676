"""The header's team switcher: the user's teams and the one the session looks at."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from teams.selectors import team_current, team_list_for_user


def teams(request: HttpRequest) -> dict[str, Any]:
    # Lazy: pages that never show the header (the JSON views) run no query.
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_team": SimpleLazyObject(lambda: team_current(request)),
        "user_teams": SimpleLazyObject(lambda: list(team_list_for_user(user))),
    }
