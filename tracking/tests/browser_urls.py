"""Test-only urlconf for the browser tests: the project's routes plus a host page.

The host page embeds the tracking snippet the running test asked for (``PAGE``, with
extra markup for its body), so the page, ``/pixel.js`` and ``/api/event`` all come from
the same live test server; any path the project does not route serves the page, so SPA
paths survive a reload.

``/api/event`` is the real collect view, wrapped to note each request it answered
(``COLLECTED``, and the bodies in ``BODIES``): Playwright does not see beacons sent while a
page unloads, the server does. ``FAULTS`` makes it answer 503 to the next requests, either
before the view runs (nothing stored) or after it (stored, but the answer lost). ``/_sink`` receives the page's own control beacons (``SINK``), sent from
``pagehide`` and ``visibilitychange`` listeners registered after pixel.js's: the tests
wait for them, instead of sleeping, before concluding that the page sent nothing more.
"""

from __future__ import annotations

import json
import threading

from csp.decorators import csp_exempt
from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from simple_analytics.urls import urlpatterns as project_urlpatterns
from tracking import views as tracking_views

# The tests set these before opening the page; the live server thread reads them.
PAGE: dict[str, str] = {"snippet": "", "body": ""}
SINK: list[str] = []
# (event type, response status) of every request /api/event answered, in arrival order.
COLLECTED: list[tuple[str, int]] = []
BODIES: list[dict] = []
FAULTS = {"before": 0, "after": 0}
_lock = threading.Lock()

_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Browser test page</title>
{snippet}
<script>
  // Control beacons, registered after pixel.js ran (defer scripts run before
  // DOMContentLoaded): each is queued after whatever the tracker sends on that event.
  document.addEventListener("DOMContentLoaded", function () {{
    window.addEventListener("pagehide", function () {{
      navigator.sendBeacon("/_sink", "pagehide");
    }});
    document.addEventListener("visibilitychange", function () {{
      navigator.sendBeacon("/_sink", "visibilitychange:" + document.visibilityState);
    }});
  }});
</script>
</head>
<body>
<h1>Browser test page</h1>
<button id="push" onclick="history.pushState({{}}, '', '/pricing')">Pricing</button>
<button id="back" onclick="history.back()">Back</button>
{body}
</body>
</html>
"""


# The host page stands for a customer's own site (inline code and all), not for our pages.
@csp_exempt()
def host_page(request: HttpRequest, rest: str = "") -> HttpResponse:
    return HttpResponse(_HTML.format(**PAGE), content_type="text/html")


@csrf_exempt
def sink(request: HttpRequest) -> HttpResponse:
    with _lock:
        SINK.append(request.body.decode("utf-8", "replace"))
    return HttpResponse(status=204)


@csrf_exempt
def recorded_collect(request: HttpRequest) -> HttpResponse:
    """The real collect view, noting what it was sent and what it answered."""
    try:
        body = json.loads(request.body)
        kind = str(body.get("type"))
    except (ValueError, AttributeError):
        body, kind = {}, "?"

    def fault(when: str) -> bool:
        with _lock:
            if FAULTS[when] > 0:
                FAULTS[when] -= 1
                return True
            return False

    if fault("before"):
        response = HttpResponse(status=503)
    else:
        response = tracking_views.collect(request)
        if fault("after"):
            response = HttpResponse(status=503)
    with _lock:
        COLLECTED.append((kind, response.status_code))
        BODIES.append(body)
    return response


urlpatterns = [
    path("api/event", recorded_collect),
    *project_urlpatterns,
    path("_sink", sink),
    re_path(r"^(?P<rest>.*)$", host_page),
]
