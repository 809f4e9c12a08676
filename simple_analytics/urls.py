from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import include, path

from jobs import views as jobs_views
from tracking.urls import tracker_urlpatterns


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:websites")


# A database that cannot be reached (stopped, or no pooled connection in time) is a 503.
handler403 = "simple_analytics.errors.permission_denied"
handler500 = "simple_analytics.errors.server_error"

urlpatterns = [
    # /api/event, /pixel.js and /pixel.full.js, or the renamed paths (tracking.paths).
    *tracker_urlpatterns(),
    path("healthz", healthz, name="healthz"),
    path("status/", jobs_views.status, name="status"),
    path("", home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("", include("teams.urls")),
    path("", include("websites.urls")),
    path("", include("goals.urls")),
    path("", include("reports.urls")),
    path("", include("dashboard.urls")),
    path("", include("api.urls")),
    path("admin/", admin.site.urls),
]
