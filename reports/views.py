"""The opt-in page of a website's email reports, and the unsubscribe link of the emails.

The unsubscribe page needs no login: the token in the link is the secret. A GET only shows
a button (mail scanners and link previews open links), a POST unsubscribes; mail clients
POST ``List-Unsubscribe=One-Click`` to the same URL (RFC 8058), without a CSRF token.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.http import AuthenticatedHttpRequest
from reports.forms import ReportsForm
from reports.models import Frequency
from reports.services import (
    subscription_delete,
    subscription_frequencies,
    subscription_get_by_token,
    subscriptions_set,
)
from websites.selectors import website_get_for_user_or_404


@login_required
@require_http_methods(["GET", "POST"])
def report_settings(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    website = website_get_for_user_or_404(request.user, pk)
    if request.method == "POST":
        form = ReportsForm(request.POST)
        if form.is_valid():
            chosen = [f for f in Frequency if form.cleaned_data[f.value]]
            subscriptions_set(user=request.user, website=website, frequencies=chosen)
            messages.success(request, "Email reports saved.")
            return redirect("reports:settings", pk=website.pk)
    else:
        current = subscription_frequencies(user=request.user, website=website)
        form = ReportsForm(initial={f.value: f.value in current for f in Frequency})
    context = {
        "website": website,
        "form": form,
        "email": request.user.email,
        "smtp": bool(settings.EMAIL_HOST),
        "base_url_set": bool(settings.BASE_URL),
        "hour": settings.EMAIL_REPORTS_HOUR,
    }
    return render(request, "reports/settings.html", context)


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    subscription = subscription_get_by_token(token)
    if subscription is None:
        return render(request, "reports/unsubscribe.html", {"invalid": True}, status=404)
    context = {
        "website": subscription.website,
        "frequency": Frequency(subscription.frequency).label.lower(),
    }
    if request.method == "POST":
        subscription_delete(subscription=subscription)
        return render(request, "reports/unsubscribe.html", {**context, "done": True})
    return render(request, "reports/unsubscribe.html", context)
