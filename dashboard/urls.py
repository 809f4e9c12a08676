from __future__ import annotations

from django.urls import path

from dashboard import export, views

app_name = "dashboard"
urlpatterns = [
    path("websites/<int:pk>/", views.overview, name="overview"),
    path("websites/<int:pk>/live.json", views.live, name="live"),
    path("websites/<int:pk>/export.csv", export.export_csv, name="export"),
]
