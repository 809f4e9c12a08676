"""The goals page of a website's settings: its goals and funnels, with forms to add and
delete them.

Admins and owners of the website's team only, like every settings page: a viewer gets a
403; an outsider's website, or a goal or funnel of another website, is a 404, the same
answer as an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.http import AuthenticatedHttpRequest
from goals.forms import EventGoalForm, FunnelForm, PageGoalForm, add_service_errors
from goals.models import GoalKind
from goals.selectors import funnel_get_or_404, funnel_list, goal_get_or_404, goal_list
from goals.services import funnel_create, funnel_delete, goal_create, goal_delete
from teams.models import Role
from websites.models import Website
from websites.selectors import website_get_for_user_or_404

# Three forms share the page; prefixes keep their fields' names and ids apart.
_EVENT, _PAGE, _FUNNEL = "event", "page", "funnel"


def _page(
    request: AuthenticatedHttpRequest,
    website: Website,
    *,
    bound: forms.Form | None = None,
) -> HttpResponse:
    """The page, with ``bound`` (a form that was sent back with errors) in its place."""
    goals = list(goal_list(website))
    event_form = bound if isinstance(bound, EventGoalForm) else EventGoalForm(prefix=_EVENT)
    page_form = bound if isinstance(bound, PageGoalForm) else PageGoalForm(prefix=_PAGE)
    funnel_form = (
        bound if isinstance(bound, FunnelForm) else FunnelForm(prefix=_FUNNEL, goals=goals)
    )
    context = {
        "website": website,
        "goals": goals,
        "funnels": list(funnel_list(website)),
        "event_form": event_form,
        "page_form": page_form,
        "funnel_form": funnel_form,
        "kinds": GoalKind,
    }
    return render(request, "goals/index.html", context)


@login_required
@require_GET
def goals_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    return _page(request, website)


@login_required
@require_POST
def goal_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    form: EventGoalForm | PageGoalForm
    if request.POST.get("kind") == GoalKind.PAGE:
        form = PageGoalForm(request.POST, prefix=_PAGE)
    else:
        form = EventGoalForm(request.POST, prefix=_EVENT)
    if form.is_valid():
        try:
            if isinstance(form, PageGoalForm):
                goal = goal_create(website=website, kind=GoalKind.PAGE, **form.cleaned_data)
            else:
                goal = goal_create(website=website, kind=GoalKind.EVENT, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Added the goal “{goal.name}”.")
            return redirect("goals:index", pk=website.pk)
    return _page(request, website, bound=form)


def _delete(
    request: AuthenticatedHttpRequest,
    website: Website,
    what: str,
    name: str,
    delete: Callable[[], None],
) -> HttpResponse:
    """Run ``delete()``: its refusal, or the deletion, is the message of the next page."""
    try:
        delete()
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, f"Deleted the {what} “{name}”.")
    return redirect("goals:index", pk=website.pk)


@login_required
@require_POST
def goal_delete_view(request: AuthenticatedHttpRequest, pk: int, goal_pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    goal = goal_get_or_404(website, goal_pk)
    return _delete(request, website, "goal", goal.name, lambda: goal_delete(goal=goal))


@login_required
@require_POST
def funnel_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    form = FunnelForm(request.POST, prefix=_FUNNEL, goals=list(goal_list(website)))
    if form.is_valid():
        try:
            funnel = funnel_create(
                website=website, name=form.cleaned_data["name"], steps=form.steps()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Added the funnel “{funnel.name}”.")
            return redirect("goals:index", pk=website.pk)
    return _page(request, website, bound=form)


@login_required
@require_POST
def funnel_delete_view(request: AuthenticatedHttpRequest, pk: int, funnel_pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    funnel = funnel_get_or_404(website, funnel_pk)
    return _delete(request, website, "funnel", funnel.name, lambda: funnel_delete(funnel=funnel))
