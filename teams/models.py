"""Teams own websites; a membership gives a user one role in a team; an invitation offers a
role to an email address through a single-use link (``teams.services``)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Role(models.TextChoices):
    """Ordered: each role can do everything of the ones below it (``role_at_least``)."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    VIEWER = "viewer", "Viewer"


_RANK = {Role.VIEWER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class RoleRequired(PermissionDenied):
    """A member below the role an action needs (a 403). The 403 page names the role; other
    ``PermissionDenied`` messages are never shown (they may carry anything)."""

    def __init__(self, need: str) -> None:
        self.need = Role(need)
        super().__init__(f"This needs the {self.need.label.lower()} role in the team.")


def role_at_least(role: str, need: str) -> bool:
    """Whether ``role`` (a Role value, "" for none) may do what needs ``need``."""
    return _RANK.get(Role(role), 0) >= _RANK[Role(need)] if role else False


class Team(models.Model):
    name = models.CharField(max_length=100)
    # Set for the team every user gets at sign-up; it goes when the user does, and cannot
    # be deleted or left by them otherwise.
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_team",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.personal_for_id is not None


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="teams_membership_unique"),
            models.CheckConstraint(
                condition=Q(role__in=list(Role.values)), name="teams_membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    """An offer of ``role`` in ``team`` to ``email``. The link's token is random; only its
    SHA-256 is stored, so a copy of the database cannot accept an invitation."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # At most one of these is set: once one is, the link opens nothing.
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} to {self.team} ({self.role})"

    @property
    def is_closed(self) -> bool:
        return bool(self.accepted_at or self.declined_at or self.revoked_at)
