from __future__ import annotations

from django.urls import path

from dashboard import details, export, sites, views

app_name = "dashboard"
urlpatterns = [
    path("websites/", sites.website_list, name="websites"),
    path("websites/<int:pk>/snippet/", sites.website_snippet, name="snippet"),
    path("websites/<int:pk>/status.json", sites.website_status, name="status"),
    path("websites/<int:pk>/", views.overview, name="overview"),
    path("websites/<int:pk>/live.json", views.live, name="live"),
    path("websites/<int:pk>/export.csv", export.export_csv, name="export"),
    path("websites/<int:pk>/details/<str:breakdown>/", details.details, name="details"),
]
