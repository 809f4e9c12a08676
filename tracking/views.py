"""Django views of the tracking app: ``POST /api/event`` (through ``collect``), ``/pixel.js``
and ``/pixel.full.js``, or the paths ``tracking.paths`` configures (``tracking.urls``).
Production ingest traffic takes the WSGI fast path in ``simple_analytics.wsgi``, which
calls the same ``collect``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from tracking.collect import collect as collect_answer
from tracking.pixel import pixel_response


@csrf_exempt
def collect(request: HttpRequest) -> HttpResponse:
    answer = collect_answer(request.method or "", request.META, request.read)
    response = HttpResponse(answer.body, status=answer.status)
    if not answer.error:
        del response["Content-Type"]
    for name, value in answer.headers:
        response[name] = value
    return response


def pixel(request: HttpRequest) -> HttpResponse:
    return pixel_response(request)


def pixel_full(request: HttpRequest) -> HttpResponse:
    return pixel_response(request, full=True)
