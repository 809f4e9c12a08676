"""Reads of goals and funnels: a website's definitions, by name or by id."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from goals.models import Funnel, FunnelStep, Goal
from websites.models import Website


def goal_list(website: Website) -> QuerySet[Goal]:
    """The website's goals, by name."""
    return Goal.objects.filter(website=website).order_by("name", "id")


def goal_get(website: Website, name: str) -> Goal | None:
    """The website's goal with this display name (exactly; names are trimmed)."""
    return Goal.objects.filter(website=website, name=name.strip()).first()


def funnel_list(website: Website) -> QuerySet[Funnel]:
    """The website's funnels, by name, with ``steps`` (and their goals) in order."""
    steps = FunnelStep.objects.select_related("goal").order_by("position")
    return (
        Funnel.objects.filter(website=website)
        .order_by("name", "id")
        .prefetch_related(Prefetch("steps", queryset=steps))
    )


def funnel_get(website: Website, name: str) -> Funnel | None:
    """The website's funnel with this name, with its steps in order."""
    return funnel_list(website).filter(name=name.strip()).first()


def goal_get_or_404(website: Website, goal_id: int) -> Goal:
    """A goal of this website by id; a goal of another website is a 404 like a missing one."""
    goal = Goal.objects.filter(website=website, id=goal_id).first()
    if goal is None:
        raise Http404("No such goal")
    return goal


def funnel_get_or_404(website: Website, funnel_id: int) -> Funnel:
    """A funnel of this website by id; another website's is a 404 like a missing one."""
    funnel = Funnel.objects.filter(website=website, id=funnel_id).first()
    if funnel is None:
        raise Http404("No such funnel")
    return funnel
