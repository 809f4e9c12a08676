"""Goals and funnels of a website: what counts as a conversion, and conversions in order.

Definitions only; counting them is the stats layer's job. ``goals.services`` holds the
rules a definition must follow, ``goals.matching`` what a definition matches.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import models
from django.db.models import Q

from goals import matching
from websites.models import Website


class GoalKind(models.TextChoices):
    EVENT = "event", "Custom event"
    PAGE = "page", "Page visit"


class Goal(models.Model):
    """An event goal (an event name, optionally one property value) or a page goal (a path
    pattern); the fields of the other kind stay blank."""

    website = models.ForeignKey(Website, on_delete=models.CASCADE, related_name="goals")
    # The display name: the stats JSON's "value", and how the CLI and funnels refer to it.
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=GoalKind.choices)
    event_name = models.CharField(max_length=120, blank=True, default="")
    prop_key = models.CharField(max_length=300, blank=True, default="")
    prop_value = models.CharField(max_length=2000, blank=True, default="")
    page_pattern = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["website", "name"], name="goals_goal_unique_name"),
            models.CheckConstraint(
                condition=(
                    Q(kind=GoalKind.EVENT, page_pattern="") & ~Q(event_name="")
                    | Q(kind=GoalKind.PAGE, event_name="", prop_key="", prop_value="")
                    & ~Q(page_pattern="")
                ),
                name="goals_goal_fields_of_its_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def definition(self) -> str:
        """What the goal matches, as the CLI takes it: ``event Signup plan=pro``,
        ``page /blog/*``."""
        if self.kind == GoalKind.PAGE:
            return f"page {self.page_pattern}"
        prop = f" {self.prop_key}={self.prop_value}" if self.prop_key else ""
        return f"event {self.event_name}{prop}"

    def matches(
        self, type: str, path: str, name: str | None, props: Mapping[str, str] | None
    ) -> bool:
        """Whether a stored event (its type, path, name and text props) counts for this
        goal; the same answer as the SQL of ``goals.matching``."""
        return matching.goal_matches(
            kind=self.kind,
            event_name=self.event_name,
            prop_key=self.prop_key,
            prop_value=self.prop_value,
            page_pattern=self.page_pattern,
            type=type,
            path=path,
            name=name,
            props=props,
        )


class Funnel(models.Model):
    """Goals in order (``FunnelStep``): a visit completes step k if it reached steps 1..k
    in that order."""

    website = models.ForeignKey(Website, on_delete=models.CASCADE, related_name="funnels")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["website", "name"], name="goals_funnel_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class FunnelStep(models.Model):
    funnel = models.ForeignKey(Funnel, on_delete=models.CASCADE, related_name="steps")
    # RESTRICT, not PROTECT: a goal of a funnel cannot be deleted alone, but deleting the
    # website deletes both in one go.
    goal = models.ForeignKey(Goal, on_delete=models.RESTRICT, related_name="funnel_steps")
    position = models.PositiveSmallIntegerField()  # 1 for the first step

    class Meta:
        ordering = ["funnel_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["funnel", "position"], name="goals_funnelstep_unique_position"
            ),
            models.UniqueConstraint(fields=["funnel", "goal"], name="goals_funnelstep_unique_goal"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.goal_id}"
