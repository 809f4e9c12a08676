from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import include, path

from jobs import views as jobs_views
from tracking import views as tracking_views


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("dashboard:websites")


# A database that cannot be reached (stopped, or no pooled connection in time) is a 503.
handler500 = "simple_analytics.errors.server_error"

urlpatterns = [
    path("api/event", tracking_views.collect, name="collect"),
    path("pixel.js", tracking_views.pixel, name="pixel"),
    path("pixel.full.js", tracking_views.pixel_full, name="pixel_full"),
    path("healthz", healthz, name="healthz"),
    path("status/", jobs_views.status, name="status"),
    path("", home, name="home"),
    path("accounts/", include("allauth.urls")),
    path("", include("websites.urls")),
    path("", include("goals.urls")),
    path("", include("dashboard.urls")),
    path("", include("api.urls")),
    path("admin/", admin.site.urls),
]
