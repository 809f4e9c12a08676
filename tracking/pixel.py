"""Serve the tracking script: minified once per process with rjsmin, gzip-ready, with an
ETag. Two builds of the one source: ``/pixel.js`` without the optional automatic events,
``/pixel.full.js`` with them (or the paths ``tracking.paths`` configures), each posting
to the configured event endpoint."""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified

from tracking import paths

SOURCE = Path(__file__).parent / "static" / "tracking" / "pixel.js"
# Sites embed /pixel.js without a version in the URL, so a fix must reach visitors within
# hours; stale-while-revalidate keeps page loads fast meanwhile.
CACHE_CONTROL = "public, max-age=14400, stale-while-revalidate=86400"
# The default build must stay within 1,000 B gzip, so the optional features sit between
# these markers in the source and only the full build keeps them.
FULL_ONLY = re.compile(r"/\* full: .*?/\* :full \*/", re.DOTALL)
# The endpoint as the source spells it; the build writes the configured one in its place,
# so a renamed endpoint costs the script no bytes.
ENDPOINT_LITERAL = f'"{paths.DEFAULT_ENDPOINT_PATH}"'


@dataclass(frozen=True)
class BuiltScript:
    body: bytes
    gzipped: bytes
    etag: str


def source(*, full: bool) -> str:
    text = SOURCE.read_text(encoding="utf-8")
    return text if full else FULL_ONLY.sub("", text)


@functools.cache
def build(full: bool = False, endpoint: str = paths.DEFAULT_ENDPOINT_PATH) -> BuiltScript:
    text = source(full=full)
    if text.count(ENDPOINT_LITERAL) != 1:
        raise RuntimeError(f"{SOURCE} must spell the endpoint {ENDPOINT_LITERAL} exactly once")
    # tracking.paths allows only characters that need no escaping in a string literal.
    text = text.replace(ENDPOINT_LITERAL, f'"{endpoint}"')
    body = rjsmin.jsmin(text).encode("utf-8")
    return BuiltScript(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag='"' + hashlib.sha256(body).hexdigest()[:20] + '"',
    )


def pixel_response(request: HttpRequest, *, full: bool = False) -> HttpResponse:
    script = build(full, paths.current().endpoint)
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
