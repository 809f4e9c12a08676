"""Website pages that change a website: add, settings, exclusions, sharing, move, delete.

Every view needs a logged-in user who is an admin or owner of the website's team
(``website_get_for_user_or_404(..., need=Role.ADMIN)``): an outsider's request is a 404,
the same answer as an id that does not exist, and a viewer's a 403. The pages that show
numbers (the list, the snippet page and its status) are in ``dashboard.sites``: websites
sits below stats.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST

from core.http import AuthenticatedHttpRequest
from teams.models import Role
from teams.selectors import membership_current_or_404, team_list_for_user
from websites.forms import (
    DeleteWebsiteForm,
    ExclusionsForm,
    ShareLinkForm,
    TransferWebsiteForm,
    WebsiteForm,
)
from websites.models import Website
from websites.selectors import website_get_for_user_or_404
from websites.services import (
    public_base_url,
    site_url,
    website_create,
    website_delete,
    website_transfer,
    website_update,
)
from websites.sharing import (
    share_link_create,
    share_link_get_for_website,
    share_link_list,
    share_link_revoke,
    share_link_token,
)


def _data(request: HttpRequest) -> QueryDict | None:
    # A POST binds the form even when empty (it then shows "required" errors).
    return request.POST if request.method == "POST" else None


@login_required
@require_http_methods(["GET", "POST"])
def website_add(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Add a website to the team the header's switcher shows (admins and owners)."""
    team = membership_current_or_404(request, need=Role.ADMIN).team
    form = WebsiteForm(_data(request), team=team)
    if request.method == "POST" and form.is_valid():
        try:
            website = website_create(owner=request.user, team=team, **form.cleaned_data)
        except ValidationError as exc:  # the form checks the same rules; belt and braces
            form.add_error(None, exc)
        else:
            messages.success(request, f"Added {website.domain}. Install the snippet to start.")
            return redirect("dashboard:snippet", pk=website.pk)
    return render(request, "websites/add.html", {"form": form, "team": team})


@login_required
@require_http_methods(["GET", "POST"])
def website_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    form = WebsiteForm(_data(request), team=website.team, website=website)
    if _saved(request, website, form, "Settings saved."):
        return redirect("websites:edit", pk=website.pk)
    return render(request, "websites/edit.html", {"website": website, "form": form})


def _saved(
    request: AuthenticatedHttpRequest, website: Website, form: forms.Form, message: str
) -> bool:
    """A valid POST of ``form`` applied to the website (``message`` for the next page);
    False when there is nothing to save or the form shows why it was refused."""
    if request.method != "POST" or not form.is_valid():
        return False
    try:
        website_update(website=website, **form.cleaned_data)
    except ValidationError as exc:
        form.add_error(None, exc)
        return False
    messages.success(request, message)
    return True


# Visiting the site with these fragments switches its tracking off, or on again, in that
# browser only (pixel.js reads the flag; docs/TRACKER.md).
IGNORE_FRAGMENT = "#sa-ignore"
TRACK_FRAGMENT = "#sa-track"


@login_required
@require_http_methods(["GET", "POST"])
def website_exclusions(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    form = ExclusionsForm(_data(request), website=website)
    if _saved(request, website, form, "Exclusions saved."):
        return redirect("websites:exclusions", pk=website.pk)
    home = site_url(website.domain)
    context = {
        "website": website,
        "form": form,
        "ignore_url": home + IGNORE_FRAGMENT,
        "track_url": home + TRACK_FRAGMENT,
    }
    return render(request, "websites/exclusions.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def website_sharing(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Share links: create one, copy its URL or iframe, revoke it."""
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    form = ShareLinkForm(_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            share_link_create(website=website, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Share link created: copy its address below.")
            return redirect("websites:sharing", pk=website.pk)
    base = public_base_url(request)
    links = []
    for link in share_link_list(website=website):
        token = share_link_token(link)
        # A URL reversed by name: the share views are dashboard's, above this app.
        url = base + reverse("dashboard:share", args=[token]) if token else ""
        links.append({"link": link, "url": url, "iframe": _iframe(url, website) if url else ""})
    context = {"website": website, "form": form, "links": links}
    return render(request, "websites/sharing.html", context)


def _iframe(url: str, website: Website) -> str:
    # Plain text for the page to show (escaped again there), not markup to render.
    return (
        f'<iframe src="{escape(url)}" title="Analytics of {escape(website.domain)}" '
        'width="100%" height="1800" style="border:0" loading="lazy"></iframe>'
    )


@login_required
@require_POST
def website_share_revoke(request: AuthenticatedHttpRequest, pk: int, link_pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    link = share_link_get_for_website(website=website, link_id=link_pk)
    if link is None:
        raise Http404("No such share link")
    share_link_revoke(link=link)
    messages.success(request, f"Revoked the link “{link.label}”: its address no longer opens.")
    return redirect("websites:sharing", pk=website.pk)


@login_required
@require_http_methods(["GET", "POST"])
def website_delete_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    form = DeleteWebsiteForm(_data(request), website=website)
    if request.method == "POST" and form.is_valid():
        domain = website.domain
        website_delete(website=website)
        messages.success(request, f"Deleted {domain} and all its data.")
        return redirect("dashboard:websites")
    return render(request, "websites/delete.html", {"website": website, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def website_transfer_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Move the website to another team; the user must be an admin or owner of both."""
    website = website_get_for_user_or_404(request.user, pk, need=Role.ADMIN)
    teams = [t for t in team_list_for_user(request.user, need=Role.ADMIN) if t != website.team]
    form = TransferWebsiteForm(_data(request), teams=teams)
    if request.method == "POST" and form.is_valid():
        target = next(t for t in teams if t.pk == form.cleaned_data["team"])
        try:
            website_transfer(website=website, team=target)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Moved {website.domain} to the team {target.name}.")
            return redirect("websites:edit", pk=website.pk)
    context = {"website": website, "form": form, "teams": teams}
    return render(request, "websites/transfer.html", context)
