from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import path

app_name = "websites"
urlpatterns = [
    path("websites/", login_required(lambda request: HttpResponse("websites")), name="list"),
]
