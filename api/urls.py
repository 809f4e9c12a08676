from __future__ import annotations

from django.urls import path

from api import views

app_name = "api"
urlpatterns = [
    path("account/api-keys/", views.keys, name="keys"),
]
