from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import path

from tracking import views as tracking_views


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("api/event", tracking_views.collect, name="collect"),
    path("pixel.js", tracking_views.pixel, name="pixel"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
