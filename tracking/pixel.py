"""Serve ``pixel.js``: minified once per process with rjsmin, gzip-ready, with an ETag."""

from __future__ import annotations

import functools
import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified

SOURCE = Path(__file__).parent / "static" / "tracking" / "pixel.js"
# Sites embed /pixel.js without a version in the URL, so a fix must reach visitors within
# hours; stale-while-revalidate keeps page loads fast meanwhile.
CACHE_CONTROL = "public, max-age=14400, stale-while-revalidate=86400"


@dataclass(frozen=True)
class BuiltScript:
    body: bytes
    gzipped: bytes
    etag: str


@functools.cache
def build() -> BuiltScript:
    body = rjsmin.jsmin(SOURCE.read_text(encoding="utf-8")).encode("utf-8")
    return BuiltScript(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
    )


def pixel_response(request: HttpRequest) -> HttpResponse:
    script = build()
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": script.etag,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if request.META.get("HTTP_IF_NONE_MATCH", "") == script.etag:
        response: HttpResponse = HttpResponseNotModified()
    elif "gzip" in request.META.get("HTTP_ACCEPT_ENCODING", ""):
        response = HttpResponse(script.gzipped, content_type="text/javascript; charset=utf-8")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(script.body, content_type="text/javascript; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response
