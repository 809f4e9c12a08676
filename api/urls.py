from __future__ import annotations

from django.urls import path

from api import views

app_name = "api"
urlpatterns = [
    path("api/v1/stats", views.stats, name="stats"),
    path("api/v1/timeseries", views.timeseries, name="timeseries"),
    path("api/v1/breakdown/<str:dimension>", views.breakdown, name="breakdown"),
    path("api/v1/openapi.json", views.openapi, name="openapi"),
    path("account/api-keys/", views.keys, name="keys"),
    path("account/api-keys/create/", views.key_create, name="key_create"),
    path("account/api-keys/<int:pk>/revoke/", views.key_revoke, name="key_revoke"),
]
