"""Test-only urlconf of the end-to-end test: the project's routes plus a customer's page.

Any path the project does not route serves a small page embedding the snippet the test
copied from the snippet page (``PAGE``), as the customer's own site would; it has a
button that navigates in place through ``history.pushState`` like a single-page app.
The copy of ``tracking/tests/browser_urls.py``, without its control beacons: this test
waits for the events themselves in the database.
"""

from __future__ import annotations

from csp.decorators import csp_exempt
from django.http import HttpRequest, HttpResponse
from django.urls import re_path

from simple_analytics.urls import urlpatterns as project_urlpatterns

# The test sets this before opening the page; the live server thread reads it.
PAGE: dict[str, str] = {"snippet": ""}

_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>A customer's site</title>
{snippet}
</head>
<body>
<h1>A customer's site</h1>
<button id="push" onclick="history.pushState({{}}, '', '/pricing')">Pricing</button>
</body>
</html>
"""


# The customer's site is not ours: our Content-Security-Policy (no inline handlers) does not
# belong on it, and the live server would otherwise add it to this page too.
@csp_exempt()
def customer_page(request: HttpRequest, rest: str = "") -> HttpResponse:
    return HttpResponse(_HTML.format(snippet=PAGE["snippet"]), content_type="text/html")


urlpatterns = [*project_urlpatterns, re_path(r"^(?P<rest>.*)$", customer_page)]
