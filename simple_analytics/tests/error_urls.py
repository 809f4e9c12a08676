"""Test-only urlconf of test_deploy.py: the project's routes plus views that fail on purpose."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path

from simple_analytics.urls import handler500  # noqa: F401 (Django looks it up here)
from simple_analytics.urls import urlpatterns as project_urlpatterns

# Must never reach a client: it stands for whatever an exception may carry.
CANARY = "canary-4b1d: postgres://admin:hunter2@db.internal/analytics"


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(CANARY)


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied(CANARY)


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation(CANARY)


def database_down(request: HttpRequest) -> HttpResponse:
    raise OperationalError(CANARY)


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404(CANARY)


urlpatterns = [
    path("__test__/crash", crash),
    path("__test__/forbidden", forbidden),
    path("__test__/suspicious", suspicious),
    path("__test__/missing", missing),
    path("__test__/database-down", database_down),
    path("api/__test__/database-down", database_down),
    *project_urlpatterns,
]
