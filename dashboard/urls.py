from __future__ import annotations

from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("websites/<int:pk>/", views.overview, name="overview"),
    path("websites/<int:pk>/live.json", views.live, name="live"),
]
