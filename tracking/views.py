"""The collect endpoint ``POST /api/event`` and the tracking script ``/pixel.js``.

The view reads headers, clamps and validates the body, runs the pipeline and hands the
event to the group committer; it answers 202 only once the event is committed.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from core.net import client_ip
from jobs.tasks import request_refresh
from tracking import payload as payload_mod
from tracking import pipeline
from tracking.models import DropReason
from tracking.pixel import pixel_response
from tracking.writer import GroupCommitter, IngestUnavailable
from websites.selectors import tracked_site_get

COMMITTER = GroupCommitter(
    max_batch=settings.INGEST_BATCH_MAX,
    on_commit=request_refresh,
    inline=not settings.INGEST_GROUP_COMMIT,
)

_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def _answer(status: int, error: str | None = None, **headers: str) -> HttpResponse:
    body = json.dumps({"error": error}) if error else b""
    response = HttpResponse(body, status=status, content_type="application/json" if error else None)
    for name, value in {**_CORS, **headers}.items():
        response[name] = value
    return response


@csrf_exempt
@never_cache
def collect(request: HttpRequest) -> HttpResponse:
    if request.method == "OPTIONS":
        return _answer(204)
    if request.method != "POST":
        return _answer(405, "method not allowed: use POST", Allow="POST, OPTIONS")
    try:
        payload = payload_mod.parse(payload_mod.read_body(request))
    except payload_mod.InvalidPayload as exc:
        return _answer(exc.status, exc.message)
    site = tracked_site_get(payload.site)
    if site is None:
        return _answer(400, "unknown or inactive site id")

    now = timezone.now()
    ip = client_ip(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.TRUSTED_PROXIES,
    )
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:1024]
    event = pipeline.run(payload, site=site, ip=ip, user_agent=user_agent, at=now)
    if isinstance(event, DropReason):
        # Don't teach bots: same answer as an accepted event, but counted for operators.
        COMMITTER.count_drop(site.id, now.date(), event)
        return _answer(202)
    try:
        COMMITTER.submit(event)
    except IngestUnavailable:
        return _answer(
            503, "temporarily unable to store the event, retry later", **{"Retry-After": "5"}
        )
    return _answer(202)


def pixel(request: HttpRequest) -> HttpResponse:
    return pixel_response(request)
