"""The operations page: what ``simple-analytics status`` prints, for staff users."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from jobs.status import collect


@never_cache
@staff_member_required
@require_safe
def status(request: HttpRequest) -> HttpResponse:
    return render(request, "jobs/status.html", {"status": collect()})
