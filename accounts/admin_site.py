"""The admin site without a password form of its own: its login page is allauth's.

Django's admin login checks a password alone: no second factor, no rate limit. This site
sends whoever is not logged in to allauth's login (second factor, ``ACCOUNT_RATE_LIMITS``)
and back to the admin page they asked for. ``INSTALLED_APPS`` names ``AdminConfig`` in place
of ``django.contrib.admin``, so ``admin.site`` and every ``admin.register`` use this site.
Loaded with the app registry, before models: nothing here may import a model.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache


class AdminSite(admin.AdminSite):
    @method_decorator(never_cache)
    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Never checks a password. Not logged in: to allauth's login, coming back to a safe
        ``next`` (else the admin index). Staff: on to ``next``. Anyone else logged in: 403
        (Django's page would offer its form to log in as someone else)."""
        next_url = self._next_url(request)
        if not request.user.is_authenticated:
            query = QueryDict(mutable=True)
            query[REDIRECT_FIELD_NAME] = next_url
            login_url = resolve_url(settings.LOGIN_URL)
            return HttpResponseRedirect(f"{login_url}?{query.urlencode(safe='/')}")
        if not self.has_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(next_url)

    def _next_url(self, request: HttpRequest) -> str:
        asked = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
        if asked and url_has_allowed_host_and_scheme(
            asked, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return asked
        return reverse("admin:index", current_app=self.name)


class AdminConfig(DjangoAdminConfig):
    default_site = "accounts.admin_site.AdminSite"
